/*
 * splitbrain clock shim: a per-process wall-clock offset for nodes that share a kernel.
 *
 * LD_PRELOAD this library and name a control file in SPLITBRAIN_CLOCK_FILE.  Only the
 * wall clock is faked: clock_gettime(CLOCK_REALTIME / CLOCK_REALTIME_COARSE),
 * gettimeofday, time and timespec_get.  Monotonic, boot and CPU clocks stay real, which
 * the JVM needs (design/cassandra.md §5).
 *
 * Control file: one newline-terminated line, three decimal integers
 *
 *     <offset_ns> <drift_ppb> <ref_real_ns>
 *
 * fake = real + offset_ns + (real - ref_real_ns) * drift_ppb / 1e9
 *
 * so a drift makes the offset grow at `drift_ppb` parts per billion from the reference
 * point on.  A missing file means "no offset"; an unparsable one keeps the last values
 * (a writer caught half-way).  Writers should replace the file by rename.
 *
 * Why not libfaketime: 0.9.10 deadlocks at start-up inside jemalloc-linked programs
 * (Debian's redis-server), because its own initialisation calls clock_gettime, which
 * jemalloc intercepts ... This shim needs no initialisation: no malloc, no stdio, no
 * dlsym; the real clock comes from the raw syscall, and state is read lock-free, so
 * every entry point is thread-safe and async-signal-safe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHECK_EVERY_NS 2000000LL /* look at the file at most every 2 ms */
#define NS 1000000000LL

struct clock_state {
    int64_t offset_ns;
    int64_t drift_ppb;
    int64_t ref_ns;
};

/* Double buffer: the writer fills the slot not in use, then bumps `generation`.
 * Readers copy slot[generation & 1] and retry if the generation moved meanwhile.
 * A reader interrupted by a signal handler never spins: the handler reads the stable slot. */
static struct clock_state slots[2];
static atomic_uint_fast64_t generation;
static atomic_flag refreshing = ATOMIC_FLAG_INIT;
static atomic_int_fast64_t last_check_ns;
/* identity of the last file we parsed: inode, size, mtime; (0,...) = absent */
static int64_t seen_ino = -1, seen_size, seen_mtime_s, seen_mtime_ns;

static int real_clock(clockid_t id, struct timespec *ts) {
    long r = syscall(SYS_clock_gettime, id, ts);
    return r == 0 ? 0 : -1;
}

static const char *control_path(void) {
    /* getenv allocates nothing and environ is ready before any constructor runs. */
    static const char *_Atomic path;
    static atomic_int looked;
    if (!atomic_load_explicit(&looked, memory_order_acquire)) {
        const char *p = getenv("SPLITBRAIN_CLOCK_FILE");
        atomic_store(&path, (p && *p) ? p : NULL);
        atomic_store_explicit(&looked, 1, memory_order_release);
    }
    return atomic_load(&path);
}

static const char *parse_int(const char *p, const char *end, int64_t *out, int *ok) {
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    int neg = 0;
    if (p < end && (*p == '-' || *p == '+')) { neg = (*p == '-'); p++; }
    const char *start = p;
    int64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9') { v = v * 10 + (*p - '0'); p++; }
    if (p == start) { *ok = 0; return p; }
    *out = neg ? -v : v;
    return p;
}

static void publish(const struct clock_state *s) {
    uint_fast64_t g = atomic_load(&generation);
    slots[(g + 1) & 1] = *s;
    atomic_store_explicit(&generation, g + 1, memory_order_release);
}

static void refresh(int64_t now_real) {
    const char *path = control_path();
    if (!path) return;
    int64_t last = atomic_load_explicit(&last_check_ns, memory_order_relaxed);
    if (now_real - last < CHECK_EVERY_NS && now_real - last > -CHECK_EVERY_NS) return;
    if (atomic_flag_test_and_set(&refreshing)) return; /* another thread (or our own
                                                          interrupted frame) is on it */
    atomic_store_explicit(&last_check_ns, now_real, memory_order_relaxed);
    struct stat st;
    if (syscall(SYS_newfstatat, AT_FDCWD, path, &st, 0) != 0) {
        if (seen_ino != 0) {
            struct clock_state zero = {0, 0, 0};
            publish(&zero);
            seen_ino = 0;
        }
        goto out;
    }
    if ((int64_t)st.st_ino == seen_ino && st.st_size == seen_size &&
        st.st_mtim.tv_sec == seen_mtime_s && st.st_mtim.tv_nsec == seen_mtime_ns)
        goto out;
    char buf[128];
    long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) goto out;
    long n = syscall(SYS_read, fd, buf, sizeof buf - 1);
    syscall(SYS_close, fd);
    if (n <= 0) goto out;
    struct clock_state s = {0, 0, 0};
    int ok = 1;
    const char *p = buf, *end = buf + n;
    p = parse_int(p, end, &s.offset_ns, &ok);
    p = parse_int(p, end, &s.drift_ppb, &ok);
    p = parse_int(p, end, &s.ref_ns, &ok);
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (p >= end || *p != '\n') ok = 0; /* a complete line ends in a newline */
    if (!ok) goto out; /* half-written: keep the previous values, look again later */
    publish(&s);
    seen_ino = (int64_t)st.st_ino;
    seen_size = st.st_size;
    seen_mtime_s = st.st_mtim.tv_sec;
    seen_mtime_ns = st.st_mtim.tv_nsec;
out:
    atomic_flag_clear(&refreshing);
}

static int64_t fake_ns(int64_t real) {
    refresh(real);
    struct clock_state s;
    for (int tries = 0; tries < 4; tries++) {
        uint_fast64_t g = atomic_load_explicit(&generation, memory_order_acquire);
        s = slots[g & 1];
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&generation, memory_order_relaxed) == g) break;
    }
    int64_t fake = real + s.offset_ns;
    if (s.drift_ppb != 0) fake += (int64_t)((__int128)(real - s.ref_ns) * s.drift_ppb / NS);
    return fake;
}

static int fake_realtime(clockid_t id, struct timespec *ts) {
    struct timespec r;
    if (real_clock(id, &r) != 0) return -1;
    int64_t f = fake_ns((int64_t)r.tv_sec * NS + r.tv_nsec);
    int64_t sec = f / NS, nsec = f % NS;
    if (nsec < 0) { nsec += NS; sec -= 1; }
    ts->tv_sec = sec;
    ts->tv_nsec = nsec;
    return 0;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    if ((id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE) && control_path())
        return fake_realtime(id, ts);
    return real_clock(id, ts);
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    (void)tz; /* obsolete; glibc ignores it too */
    struct timeval *volatile out = tv; /* glibc declares tv nonnull; callers still pass NULL */
    if (!out) return 0;
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -1;
    out->tv_sec = ts.tv_sec;
    out->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *out) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return (time_t)-1;
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}

int timespec_get(struct timespec *ts, int base) {
    if (base != TIME_UTC) return 0;
    return clock_gettime(CLOCK_REALTIME, ts) == 0 ? base : 0;
}
