/* cache.c - libcontig: the cache maintenance each cache type implies.
 *
 * DESIGN
 * Linux gives user space no way to change how the CPU caches RAM: every
 * contigd buffer is mapped write-back, whatever its MEMORY_CACHING_TYPE.
 * What a type can still mean is what a driver must do around DMA, as
 * dma-buf's DMA_BUF_IOCTL_SYNC and u-dma-buf's sync_for_device /
 * sync_for_cpu do it for a range of a buffer:
 *
 *   type                          sync_for_device             sync_for_cpu
 *   MmCached, MmHardwareCoherent  sfence                      compiler barrier
 *   MmNonCached, ...Unordered     write back lines + fence    write back and
 *   MmWriteCombined, MmUSWCCached write back lines + fence      invalidate + mfence
 *
 * Coherent types need no cache maintenance on x86 (DMA snoops the caches);
 * the sfence orders non-temporal stores (contig_copy_to_wc) before a later
 * doorbell write. The others are for devices that do not snoop (PCIe No
 * Snoop, or a platform without coherent DMA): before the device reads,
 * every line of the range is written back to memory (clwb, else
 * clflushopt, else clflush), then fenced (sfence; mfence after clflush);
 * before the CPU reads what the device wrote, every line is evicted
 * (clflushopt, else clflush: both write back a dirty line, then invalidate
 * it; x86 offers user space no invalidate that drops data) and an mfence
 * orders the later loads. The write-combined types get the same, because
 * their mapping is write-back too: ordinary stores to it sit in the cache
 * like any other, and the fence also drains the write-combining buffers of
 * contig_copy_to_wc()'s non-temporal stores.
 *
 * A line is the CPU's flush granularity (cpuid leaf 1, ebx[15:8] * 8); a
 * range is widened to whole lines, which never leave the buffer: buffers
 * are 4 KiB aligned. The CPU is looked at once (pthread_once): cpuid leaf
 * 7 ebx bit 24 clwb, bit 23 clflushopt, leaf 1 edx bit 19 clflush.
 * $CONTIGD_CACHE_FLUSH at that moment may lower the choice ("clflushopt",
 * "clflush", or "none" for the portable fallback), never raise it above
 * what the CPU has: for tests and benches.
 *
 * Portable fallback (every architecture but x86-64, and "none"): a full
 * memory barrier (__atomic_thread_fence(__ATOMIC_SEQ_CST)) and no cache
 * maintenance at all. It orders this thread's accesses; it does not move
 * a byte between cache and memory, so it is correct only where DMA is
 * cache-coherent. (__builtin___clear_cache is not a substitute: it makes
 * stores visible to instruction fetch, not to devices.)
 *
 * A buffer is checked against the client's table, under its lock, by
 * contig_buffer_of(); the flush runs after the lock is dropped, so a sync
 * never waits behind another thread's round trip longer than the lookup.
 * The caller must not free the buffer while a sync of it runs (as with any
 * use of its memory). Any thread.
 */
#include "contig.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "wire.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define CACHE_X86 1
#else
#define CACHE_X86 0
#endif

#define DEFAULT_LINE_LEN 64u

/* How lines are written back, or written back and evicted. */
enum flush_op {
	FLUSH_NONE,       /* the portable fallback: a fence only */
	FLUSH_CLFLUSH,
	FLUSH_CLFLUSHOPT,
	FLUSH_CLWB,
};

static const char *const flush_names[] = {
	[FLUSH_NONE] = "none",
	[FLUSH_CLFLUSH] = "clflush",
	[FLUSH_CLFLUSHOPT] = "clflushopt",
	[FLUSH_CLWB] = "clwb",
};

static struct {
	enum flush_op write_back; /* sync_for_device */
	enum flush_op invalidate; /* sync_for_cpu: never clwb, which may keep the line */
	uint32_t line_len;
	bool nt_stores;           /* contig_copy_to_wc() streams */
} cpu;

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

/* What the CPU has, lowered by $CONTIGD_CACHE_FLUSH. */
static void cpu_detect(void)
{
	enum flush_op best = FLUSH_NONE, limit = FLUSH_CLWB;
	const char *env = getenv("CONTIGD_CACHE_FLUSH");

	cpu.line_len = DEFAULT_LINE_LEN;
#if CACHE_X86
	{
		unsigned eax, ebx, ecx, edx, line;
		bool opt = false;

		if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) && (edx & (1u << 19))) {
			best = FLUSH_CLFLUSH;
			line = ((ebx >> 8) & 0xffu) * 8u;
			/* (0 or absurd: keep the x86-64 line) */
			if (line >= 16 && line <= 4096 && (line & (line - 1)) == 0)
				cpu.line_len = line;
			if (__get_cpuid_max(0, NULL) >= 7) {
				__cpuid_count(7, 0, eax, ebx, ecx, edx);
				opt = ebx & (1u << 23);
				if (opt)
					best = FLUSH_CLFLUSHOPT;
				if (ebx & (1u << 24))
					best = FLUSH_CLWB;
			}
		}
		/* clwb may keep the line: eviction takes a flush. */
		cpu.invalidate = best != FLUSH_CLWB ? best : opt ? FLUSH_CLFLUSHOPT : FLUSH_CLFLUSH;
		cpu.nt_stores = true; /* SSE2: part of x86-64 */
	}
#endif
	for (enum flush_op op = FLUSH_NONE; env && op <= FLUSH_CLWB; op++)
		if (strcmp(env, flush_names[op]) == 0)
			limit = op;
	cpu.write_back = best < limit ? best : limit;
	if (cpu.invalidate > limit)
		cpu.invalidate = limit;
	if (limit == FLUSH_NONE)
		cpu.nt_stores = false;
}

#if CACHE_X86
__attribute__((target("clwb"))) static void lines_clwb(uint8_t *p, const uint8_t *end,
						       size_t line)
{
	for (; p < end; p += line)
		_mm_clwb(p);
	_mm_sfence();
}

__attribute__((target("clflushopt"))) static void lines_clflushopt(uint8_t *p,
								   const uint8_t *end, size_t line,
								   bool full_fence)
{
	for (; p < end; p += line)
		_mm_clflushopt(p);
	/* sfence orders clflushopt; a CPU read afterwards wants mfence. */
	if (full_fence)
		_mm_mfence();
	else
		_mm_sfence();
}

static void lines_clflush(uint8_t *p, const uint8_t *end, size_t line)
{
	for (; p < end; p += line)
		_mm_clflush(p);
	_mm_mfence();
}
#endif

/* @op on every line of [@virt, @virt + @len), then the fence it needs
 * (@for_cpu: one that also orders later loads). */
static void lines_flush(enum flush_op op, uint8_t *virt, uint64_t len, bool for_cpu)
{
	uintptr_t mask = ~(uintptr_t)(cpu.line_len - 1);
	const uint8_t *end = virt + len;
	/* (An empty range flushes no line, only fences.) */
	uint8_t *p = len ? (uint8_t *)((uintptr_t)virt & mask) : virt;

	switch (op) {
#if CACHE_X86
	case FLUSH_CLWB:
		lines_clwb(p, end, cpu.line_len);
		return;
	case FLUSH_CLFLUSHOPT:
		lines_clflushopt(p, end, cpu.line_len, for_cpu);
		return;
	case FLUSH_CLFLUSH:
		lines_clflush(p, end, cpu.line_len);
		return;
#endif
	default:
		(void)p;
		(void)end;
		(void)for_cpu;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		return;
	}
}

/* Does @type leave the CPU's caches coherent with DMA, on this CPU? */
static bool coherent(int type)
{
	return type == CONTIG_CACHED || type == CONTIG_HARDWARE_COHERENT_CACHED;
}

/* The live buffer @buf of @c, with [@offset, @offset + @len) inside it:
 * 0 and *ret_buf (the table's copy), -EINVAL, -ENOENT or -ECONNRESET. */
static int sync_range(struct contig_client *c, const struct contig_buffer *buf, uint64_t offset,
		      uint64_t len, struct contig_buffer *ret_buf)
{
	struct contig_buffer b;
	int r;

	if (!buf)
		return contig_fail(-EINVAL, "no buffer");
	r = contig_buffer_of(c, buf->virt, &b);
	if (r < 0)
		return r;
	/* A copy the caller altered, or one of a buffer gone whose place a
	 * new one took, is not this buffer. */
	if (b.virt != buf->virt || b.id != buf->id || b.len != buf->len || b.phys != buf->phys ||
	    b.cache_type != buf->cache_type)
		return contig_fail(-ENOENT, "%p does not describe a live buffer of this client",
				   buf->virt);
	if (offset > b.len || len > b.len - offset)
		return contig_fail(-EINVAL,
				   "range at %llu of %llu bytes is outside the buffer of %llu bytes",
				   (unsigned long long)offset, (unsigned long long)len,
				   (unsigned long long)b.len);
	*ret_buf = b;
	return 0;
}

CONTIG_EXPORT int contig_sync_for_device(struct contig_client *c, const struct contig_buffer *buf,
					 uint64_t offset, uint64_t len)
{
	struct contig_buffer b;
	int r = sync_range(c, buf, offset, len, &b);

	if (r < 0)
		return r;
	pthread_once(&cpu_once, cpu_detect);
	if (coherent(b.cache_type)) {
#if CACHE_X86
		_mm_sfence();
#else
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
		return 0;
	}
	lines_flush(cpu.write_back, (uint8_t *)b.virt + offset, len, false);
	return 0;
}

CONTIG_EXPORT int contig_sync_for_cpu(struct contig_client *c, const struct contig_buffer *buf,
				      uint64_t offset, uint64_t len)
{
	struct contig_buffer b;
	int r = sync_range(c, buf, offset, len, &b);

	if (r < 0)
		return r;
	pthread_once(&cpu_once, cpu_detect);
	if (coherent(b.cache_type)) {
		/* x86 does not reorder loads with loads: keep the compiler
		 * from it; elsewhere this orders them. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		return 0;
	}
	lines_flush(cpu.invalidate, (uint8_t *)b.virt + offset, len, true);
	return 0;
}

CONTIG_EXPORT void contig_get_cache_info(struct contig_cache_info *ret_info)
{
	pthread_once(&cpu_once, cpu_detect);
	*ret_info = (struct contig_cache_info){
		.line_len = cpu.line_len,
		.write_back = flush_names[cpu.write_back],
		.invalidate = flush_names[cpu.invalidate],
		.nt_stores = cpu.nt_stores,
	};
}

#if CACHE_X86
/* Non-temporal stores: bytes until @dst is 4-aligned, then 4 bytes
 * (movnti) until it is 16-aligned, 64 bytes (4 x movntdq) at a time, then
 * the tail in the reverse order; sfence. */
static void copy_nt(uint8_t *dst, const uint8_t *src, size_t len)
{
	while (len && ((uintptr_t)dst & 3u)) {
		*dst++ = *src++;
		len--;
	}
	while (len >= 4 && ((uintptr_t)dst & 15u)) {
		int v;

		memcpy(&v, src, 4);
		_mm_stream_si32((int *)(void *)dst, v);
		dst += 4;
		src += 4;
		len -= 4;
	}
	for (; len >= 64; dst += 64, src += 64, len -= 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)src);
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(const void *)(src + 32));
		__m128i d = _mm_loadu_si128((const __m128i *)(const void *)(src + 48));

		_mm_stream_si128((__m128i *)(void *)dst, a);
		_mm_stream_si128((__m128i *)(void *)(dst + 16), b);
		_mm_stream_si128((__m128i *)(void *)(dst + 32), c);
		_mm_stream_si128((__m128i *)(void *)(dst + 48), d);
	}
	for (; len >= 16; dst += 16, src += 16, len -= 16)
		_mm_stream_si128((__m128i *)(void *)dst,
				 _mm_loadu_si128((const __m128i *)(const void *)src));
	for (; len >= 4; dst += 4, src += 4, len -= 4) {
		int v;

		memcpy(&v, src, 4);
		_mm_stream_si32((int *)(void *)dst, v);
	}
	while (len--)
		*dst++ = *src++;
	_mm_sfence();
}
#endif

CONTIG_EXPORT void contig_copy_to_wc(void *dst, const void *src, size_t len)
{
	pthread_once(&cpu_once, cpu_detect);
#if CACHE_X86
	if (cpu.nt_stores) {
		copy_nt(dst, src, len);
		return;
	}
#endif
	if (len)
		memcpy(dst, src, len);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
