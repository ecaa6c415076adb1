/* keepermsg.h - what the daemon and its frame keeper exchange (see
 * keepermsg.c): the datagram, its operations, the table of frames both
 * sides keep. Private to keeper.c and keeperd.c.
 */
#ifndef CONTIG_KEEPERMSG_H
#define CONTIG_KEEPERMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEEPER_MAGIC 0x6b656570u /* "keep" */
#define KEEPER_BATCH 250         /* descriptors per datagram (SCM_MAX_FD is 253) */

enum keeper_op {
	KEEPER_HELD = 1, /* keeper -> daemon: frames it holds (descriptors attached) */
	KEEPER_END,      /* keeper -> daemon: that was all */
	KEEPER_BUSY,     /* keeper -> daemon: another daemon is connected */
	KEEPER_UPDATE,   /* daemon -> keeper: hold @nput (attached), drop @ndrop */
	KEEPER_CLEAR,    /* daemon -> keeper: drop everything */
	KEEPER_QUIT,     /* daemon -> keeper: drop everything and exit */
};

struct keeper_key {
	uint64_t page_len;
	uint64_t id;
};

/* A datagram: the head, then nput + ndrop keys; nput descriptors ride
 * along (SCM_RIGHTS), in the order of the first nput keys. */
struct keeper_head {
	uint32_t magic;
	uint32_t op;
	uint32_t nput;
	uint32_t ndrop;
};

struct keeper_msg {
	struct keeper_head head;
	struct keeper_key keys[2 * KEEPER_BATCH];
};

/* Send one datagram: @put[0..nput) with @fds attached, then @drop[0..ndrop)
 * (each at most KEEPER_BATCH). Returns 0 or -errno. */
int keeper_msg_send(int sock, enum keeper_op op, const struct keeper_key *put, const int *fds,
		    uint32_t nput, const struct keeper_key *drop, uint32_t ndrop);

/* Receive one datagram into @m, its descriptors into @fds. Returns 0, -EPIPE
 * at end of file, -EPROTO for anything malformed (its descriptors closed),
 * or -errno. */
int keeper_msg_recv(int sock, struct keeper_msg *m, int *fds, int flags);

/* Open addressing on (page_len, id), linear probing, deletion by backward
 * shift; at most half full. */
struct keeper_table {
	struct slot {
		struct keeper_key key;
		int fd; /* -1: empty */
	} *slots;
	size_t cap, n;
	bool borrowed; /* the descriptors are not ours to close (unused: both sides own theirs) */
};

/* Let go of @key (closing its descriptor). */
void keeper_table_drop(struct keeper_table *t, struct keeper_key key);

/* Hold @fd as @key (replacing what held that key). Closes @fd on -ENOMEM. */
int keeper_table_put(struct keeper_table *t, struct keeper_key key, int fd);

/* Let go of everything (the table keeps its slots). */
void keeper_table_clear(struct keeper_table *t);

/* Send the whole table as @op datagrams (HELD: to a newly connected
 * daemon, then END; UPDATE: a daemon's mirror to a new keeper). */
int keeper_send_table(int conn, const struct keeper_table *t, enum keeper_op op);

#endif
