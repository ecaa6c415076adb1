/* dpdk_l2fwd_contig.c - a DPDK application whose packet and queue memory
 * all comes from contigd.
 *
 * DPDK starts with no hugepages of its own (--no-huge: its small default
 * heap is ordinary memory and holds only EAL bookkeeping), then:
 *
 *   1. takes four contigd buffers, one of 4 MiB and three of 2 MiB, and
 *      makes them the DPDK malloc heap "contigd" (contig_dpdk_heap_alloc()
 *      for each), whose socket id every later allocation names. A heap
 *      may be in pieces: no DPDK allocation spans two, so each stays
 *      physically contiguous, and the daemon needs only two adjacent
 *      frames, for the memzone. (Each mempool takes about 1.6 MiB of
 *      heap for its per-lcore caches alone.)
 *   2. creates on that heap a 3 MiB RTE_MEMZONE_IOVA_CONTIG memzone, as a
 *      descriptor area would be (first: it is the one that needs the
 *      larger piece), an mbuf pool, and the two rings that are the queues
 *      of two net_ring ports (rte_eth_from_rings());
 *   3. creates a second mbuf pool whose data rooms are a separate contigd
 *      buffer registered as external memory
 *      (contig_dpdk_extbuf_pool_create());
 *   4. prints the IOVA of every mbuf data room, ring and memzone: what a
 *      driver would program into a device;
 *   5. forwards a burst, l2fwd style: sent on port A, received on port B,
 *      MAC addresses rewritten and sent back on port B, received on port A
 *      and checked byte for byte;
 *   6. with --hold, waits for a line on stdin (so that another process can
 *      read /proc/<pid>/pagemap meanwhile), then frees everything, detaches
 *      the heap and disconnects: the daemon gets every frame back.
 *
 * Build: `make` at the top builds build/examples/dpdk_l2fwd_contig when
 * libdpdk-dev is installed. Run, as any user the daemon admits:
 *
 *   CONTIGD_SOCKET=/tmp/x.sock build/examples/dpdk_l2fwd_contig \
 *       --no-huge -m 16 --no-shconf --no-pci --no-telemetry -l 0 -- --burst 32
 *
 * Output lines, one record each, for a reader or a test:
 *   mbuf <pool> <data virt> <data iova> <room len> <header virt> <header iova>
 *   heap <name> socket <id> phys <phys> len <len>   (one per piece)
 *   ring <name> <virt> <iova> <len>
 *   memzone <name> <virt> <iova> <len>
 *   tx <port> <iova>                    (the IOVA programmed for each packet)
 *   packets sent <n> forwarded <n> received <n> intact <n>
 *   ready <pid>                         (then, with --hold, it waits)
 *   done                                (everything given back)
 * Exit status 0 only if every packet came back intact and every teardown
 * step succeeded.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include "contig_dpdk.h"

#define HEAP_NAME "contigd"
#define HEAP_PIECES 4
static const uint64_t heap_piece_len[HEAP_PIECES] = { 4u << 20, 2u << 20, 2u << 20, 2u << 20 };
#define EXT_LEN (4u << 20)
#define NB_MBUF 511u
#define NB_EXT_MBUF 511u
#define RING_SIZE 1024u
#define MEMZONE_LEN (3u << 20)
#define MAX_BURST 256u
#define PAYLOAD_LEN 512u
#define ETHER_TYPE_LOCAL 0x88B5 /* IEEE 802 local experimental */

static const struct rte_ether_addr mac_a = { { 0x02, 0, 0, 0, 0, 0xa } };
static const struct rte_ether_addr mac_b = { { 0x02, 0, 0, 0, 0, 0xb } };

static void die(const char *what, int err)
{
	fprintf(stderr, "dpdk_l2fwd_contig: %s: %s%s%s\n", what, rte_strerror(err),
		*contig_last_message() ? " - " : "", contig_last_message());
	exit(1);
}

/* rte_mempool_obj_iter() callback: one "mbuf" line per mbuf. */
static void print_mbuf(struct rte_mempool *mp, void *pool_name, void *obj, unsigned idx)
{
	struct rte_mbuf *m = obj;

	(void)idx;
	printf("mbuf %s %p %#" PRIx64 " %u %p %#" PRIx64 "\n", (const char *)pool_name,
	       rte_pktmbuf_mtod(m, void *), (uint64_t)rte_mbuf_data_iova(m),
	       (unsigned)(m->buf_len - m->data_off), (void *)m,
	       (uint64_t)rte_mempool_virt2iova(m));
	(void)mp;
}

static void print_zone(const char *kind, const struct rte_memzone *mz)
{
	printf("%s %s %p %#" PRIx64 " %zu\n", kind, mz->name, mz->addr, (uint64_t)mz->iova, mz->len);
}

/* A port on the two rings: receives from @rx, sends into @tx. */
static uint16_t port_from_rings(const char *name, struct rte_ring *rx, struct rte_ring *tx,
				int socket_id, struct rte_mempool *mp)
{
	struct rte_eth_conf conf;
	int port;

	memset(&conf, 0, sizeof(conf));
	port = rte_eth_from_rings(name, &rx, 1, &tx, 1, (unsigned)socket_id);
	if (port < 0)
		die("rte_eth_from_rings", rte_errno);
	if (rte_eth_dev_configure((uint16_t)port, 1, 1, &conf) < 0 ||
	    rte_eth_rx_queue_setup((uint16_t)port, 0, RING_SIZE, (unsigned)socket_id, NULL, mp) < 0 ||
	    rte_eth_tx_queue_setup((uint16_t)port, 0, RING_SIZE, (unsigned)socket_id, NULL) < 0 ||
	    rte_eth_dev_start((uint16_t)port) < 0)
		die("port setup", rte_errno);
	return (uint16_t)port;
}

/* Byte @i of packet @seq's payload. */
static uint8_t pattern(unsigned seq, unsigned i)
{
	return (uint8_t)(seq * 131u + i * 7u + 1u);
}

/* A packet from A to B numbered @seq, from @mp. */
static struct rte_mbuf *packet_new(struct rte_mempool *mp, unsigned seq)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	struct rte_ether_hdr *eth;
	uint8_t *payload;

	if (!m)
		die("rte_pktmbuf_alloc", rte_errno ? rte_errno : ENOMEM);
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eth) + PAYLOAD_LEN);
	if (!eth)
		die("rte_pktmbuf_append", ENOSPC);
	eth->dst_addr = mac_b;
	eth->src_addr = mac_a;
	eth->ether_type = rte_cpu_to_be_16(ETHER_TYPE_LOCAL);
	payload = (uint8_t *)(eth + 1);
	for (unsigned i = 0; i < PAYLOAD_LEN; i++)
		payload[i] = pattern(seq, i);
	memcpy(payload, &seq, sizeof(seq));
	return m;
}

/* Is @m packet number *ret_seq, as it left, with its addresses swapped by
 * the forwarder? */
static bool packet_intact(struct rte_mbuf *m)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const uint8_t *payload = (const uint8_t *)(eth + 1);
	unsigned seq;

	if (rte_pktmbuf_pkt_len(m) != sizeof(*eth) + PAYLOAD_LEN ||
	    !rte_is_same_ether_addr(&eth->dst_addr, &mac_a) ||
	    !rte_is_same_ether_addr(&eth->src_addr, &mac_b))
		return false;
	memcpy(&seq, payload, sizeof(seq));
	for (unsigned i = sizeof(seq); i < PAYLOAD_LEN; i++)
		if (payload[i] != pattern(seq, i))
			return false;
	return true;
}

/* Receive exactly @n packets from @port's queue 0 into @pkts. */
static unsigned rx_all(uint16_t port, struct rte_mbuf **pkts, unsigned n)
{
	unsigned got = 0, empty = 0;

	/* net_ring delivers synchronously: what was sent is already queued, so
	 * a few empty polls mean it is not coming. */
	while (got < n && empty < 4) {
		uint16_t k = rte_eth_rx_burst(port, 0, pkts + got, (uint16_t)(n - got));

		got += k;
		empty = k ? 0 : empty + 1;
	}
	return got;
}

static unsigned tx_all(uint16_t port, struct rte_mbuf **pkts, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		printf("tx %u %#" PRIx64 "\n", port, (uint64_t)rte_mbuf_data_iova(pkts[i]));
	return rte_eth_tx_burst(port, 0, pkts, (uint16_t)n);
}

int main(int argc, char **argv)
{
	struct rte_mbuf *pkts[MAX_BURST];
	struct contig_client *client;
	struct contig_alloc_req req;
	struct contig_buffer heap_bufs[HEAP_PIECES], ext_buf;
	struct rte_mempool *pool, *ext_pool;
	struct rte_ring *ring_ab, *ring_ba;
	const struct rte_memzone *mz;
	unsigned burst = 32, sent, fwd, rcvd, intact = 0;
	bool hold = false, ok = true;
	uint16_t port_a, port_b;
	int n, socket_id, r;

	setvbuf(stdout, NULL, _IOLBF, 0); /* a reader sees each record at once */
	n = rte_eal_init(argc, argv);
	if (n < 0)
		die("rte_eal_init", rte_errno);
	argc -= n;
	argv += n;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--burst") && i + 1 < argc)
			burst = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--hold"))
			hold = true;
		else {
			fprintf(stderr, "usage: dpdk_l2fwd_contig [EAL options] -- "
					"[--burst N] [--hold]\n");
			return 2;
		}
	}
	if (burst == 0 || 2 * burst > MAX_BURST) {
		fprintf(stderr, "dpdk_l2fwd_contig: --burst takes 1 to %u\n", MAX_BURST / 2);
		return 2;
	}
	printf("eal iova_mode %s\n", rte_eal_iova_mode() == RTE_IOVA_PA ? "pa" : "va");

	r = contig_connect(NULL, &client);
	if (r < 0)
		die("contig_connect", -r);

	/* 1. The heap. */
	socket_id = -1;
	for (unsigned i = 0; i < HEAP_PIECES; i++) {
		contig_alloc_req_init(&req, heap_piece_len[i]);
		r = contig_dpdk_heap_alloc(client, HEAP_NAME, &req, &heap_bufs[i]);
		if (r < 0)
			die("contig_dpdk_heap_alloc", -r);
		socket_id = r;
		printf("heap %s socket %d phys %#" PRIx64 " len %" PRIu64 "\n", HEAP_NAME, socket_id,
		       heap_bufs[i].phys, heap_bufs[i].len);
	}

	/* 2. Everything on it. */
	mz = rte_memzone_reserve_aligned("descriptors", MEMZONE_LEN, socket_id,
					 RTE_MEMZONE_IOVA_CONTIG, 4096);
	if (!mz)
		die("rte_memzone_reserve_aligned", rte_errno);
	pool = rte_pktmbuf_pool_create("heap_pool", NB_MBUF, 32, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       socket_id);
	if (!pool)
		die("rte_pktmbuf_pool_create", rte_errno);
	ring_ab = rte_ring_create("ab", RING_SIZE, socket_id, RING_F_SP_ENQ | RING_F_SC_DEQ);
	ring_ba = rte_ring_create("ba", RING_SIZE, socket_id, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!ring_ab || !ring_ba)
		die("rte_ring_create", rte_errno);

	/* 3. The pool with external data rooms. */
	contig_alloc_req_init(&req, EXT_LEN);
	r = contig_alloc(client, &req, &ext_buf);
	if (r < 0)
		die("contig_alloc", -r);
	ext_pool = contig_dpdk_extbuf_pool_create(client, "ext_pool", NB_EXT_MBUF, 32, 0,
						  RTE_MBUF_DEFAULT_BUF_SIZE, socket_id, &ext_buf, 1);
	if (!ext_pool)
		die("contig_dpdk_extbuf_pool_create", rte_errno);

	/* 4. What a driver would program. */
	rte_mempool_obj_iter(pool, print_mbuf, (void *)"heap_pool");
	rte_mempool_obj_iter(ext_pool, print_mbuf, (void *)"ext_pool");
	print_zone("ring", ring_ab->memzone);
	print_zone("ring", ring_ba->memzone);
	print_zone("memzone", mz);

	/* 5. A: rx ba, tx ab. B: rx ab, tx ba. Half the burst from each pool. */
	port_a = port_from_rings("net_ring_a", ring_ba, ring_ab, socket_id, pool);
	port_b = port_from_rings("net_ring_b", ring_ab, ring_ba, socket_id, pool);
	for (unsigned i = 0; i < 2 * burst; i++)
		pkts[i] = packet_new(i < burst ? pool : ext_pool, i);
	sent = tx_all(port_a, pkts, 2 * burst);
	fwd = rx_all(port_b, pkts, sent);
	for (unsigned i = 0; i < fwd; i++) {
		struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkts[i], struct rte_ether_hdr *);
		struct rte_ether_addr tmp = eth->dst_addr;

		eth->dst_addr = eth->src_addr;
		eth->src_addr = tmp;
	}
	fwd = tx_all(port_b, pkts, fwd);
	rcvd = rx_all(port_a, pkts, fwd);
	for (unsigned i = 0; i < rcvd; i++) {
		intact += packet_intact(pkts[i]);
		rte_pktmbuf_free(pkts[i]);
	}
	printf("packets sent %u forwarded %u received %u intact %u\n", sent, fwd, rcvd, intact);
	ok = sent == 2 * burst && fwd == sent && rcvd == sent && intact == sent;

	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	if (hold) {
		char line[16];

		if (!fgets(line, sizeof(line), stdin))
			ok = false;
	}

	/* 6. Everything back, in reverse. */
	if (rte_eth_dev_stop(port_a) < 0 || rte_eth_dev_stop(port_b) < 0 ||
	    rte_eth_dev_close(port_a) < 0 || rte_eth_dev_close(port_b) < 0)
		die("closing the ports", rte_errno);
	rte_ring_free(ring_ab);
	rte_ring_free(ring_ba);
	if (rte_memzone_free(mz) < 0)
		die("rte_memzone_free", rte_errno);
	rte_mempool_free(pool);
	r = contig_dpdk_extbuf_pool_free(ext_pool, &ext_buf, 1);
	if (r < 0)
		die("contig_dpdk_extbuf_pool_free", -r);
	r = contig_free(client, ext_buf.virt);
	if (r < 0)
		die("contig_free", -r);
	for (unsigned i = 0; i < HEAP_PIECES && r == 0; i++)
		r = contig_dpdk_heap_free(client, HEAP_NAME, &heap_bufs[i]);
	if (r < 0)
		die("contig_dpdk_heap_free (is something still allocated on the heap?)", -r);
	contig_disconnect(client);
	rte_eal_cleanup();
	printf("done\n");
	return ok ? 0 : 1;
}
