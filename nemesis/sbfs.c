/* sbfs: a FUSE filesystem that keeps file data written since the last fsync in its own
 * memory, so splitbrain can simulate a power failure: drop everything not fsynced.
 *
 *   sbfs BACKING_DIR MOUNTPOINT [-o fsname=<prefix>-disk-<node>] ...   (libfuse3 options)
 *
 * Durable state lives in BACKING_DIR. Metadata operations (create, mkdir, rename, unlink,
 * truncate, chmod, link, fallocate) reach BACKING_DIR at once: only file *data* waits for
 * fsync, which is where databases differ (Redis `appendfsync`, Cassandra's commitlog
 * modes). write() stores the bytes as extents of the file's inode; read() overlays them
 * on the backing file; fsync/fdatasync of any descriptor of the inode writes the extents
 * to the backing file, fsyncs it and forgets them.
 *
 * Control: the file /.sbfs-control at the mount's root (not listed). Writing
 *   "lose"              drops every unsynced extent (the crash),
 *   "lose-torn SEED"    keeps a random-length prefix of each file's unsynced writes, the
 *                       cut falling inside one write (a torn write), drops the rest,
 *   "slow FSYNC_MS WRITE_MS"   delays every fsync / write (a slow disk), "slow 0 0" ends it;
 * reading it returns JSON counters. Run single-threaded (-s): every operation, control
 * ones included, is then atomic with respect to the others, so no locks are needed.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE
#include <fuse.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CONTROL "/.sbfs-control"

static int rootfd = -1;

typedef struct extent { off_t off; size_t len, cap; char *data; } extent_t;
typedef struct cache {
    dev_t dev; ino_t ino;
    off_t size;            /* logical size: backing size, grown by cached writes */
    extent_t *ext; size_t next, cap;
    size_t pending;        /* bytes in ext */
    struct cache *link;
} cache_t;
static cache_t *caches;

static struct {
    unsigned long long writes, write_bytes, fsyncs, synced_bytes, losses, lost_bytes,
        torn_kept_bytes, last_lost_bytes, last_torn_kept_bytes;
    long slow_fsync_ms, slow_write_ms;
} st;

static const char *rel(const char *path) {
    while (*path == '/') path++;
    return *path ? path : ".";
}

static cache_t *find(dev_t dev, ino_t ino) {
    for (cache_t *c = caches; c; c = c->link)
        if (c->ino == ino && c->dev == dev) return c;
    return NULL;
}
static void drop_extents(cache_t *c) {
    for (size_t i = 0; i < c->next; i++) free(c->ext[i].data);
    c->next = 0; c->pending = 0;
}
/* A new file (or a reused inode number) starts with nothing cached. */
static void forget(dev_t dev, ino_t ino) {
    cache_t **pp = &caches;
    while (*pp) {
        if ((*pp)->ino == ino && (*pp)->dev == dev) {
            cache_t *c = *pp; *pp = c->link;
            drop_extents(c); free(c->ext); free(c);
            return;
        }
        pp = &(*pp)->link;
    }
}
static cache_t *get(int fd) {
    struct stat s;
    if (fstat(fd, &s) < 0) return NULL;
    cache_t *c = find(s.st_dev, s.st_ino);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) return NULL;
        c->dev = s.st_dev; c->ino = s.st_ino; c->size = s.st_size;
        c->link = caches; caches = c;
    }
    return c;
}

static void close_released(void);

static void msleep(long ms) {
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

/* Write the first `keep` pending bytes (in write order) to the backing file. */
static int persist(cache_t *c, int fd, size_t keep) {
    size_t done = 0;
    for (size_t i = 0; i < c->next && done < keep; i++) {
        extent_t *e = &c->ext[i];
        size_t n = e->len < keep - done ? e->len : keep - done;
        if (pwrite(fd, e->data, n, e->off) != (ssize_t)n) return -errno;
        done += n;
    }
    return 0;
}

static int do_sync(cache_t *c, int fd, int datasync) {
    msleep(st.slow_fsync_ms);
    st.fsyncs++;
    if (c && c->pending) {
        int r = persist(c, fd, c->pending);
        if (r) return r;
        st.synced_bytes += c->pending;
        drop_extents(c);
        close_released();
        struct stat s;
        if (fstat(fd, &s) == 0 && s.st_size > c->size) c->size = s.st_size;
    }
    if ((datasync ? fdatasync(fd) : fsync(fd)) < 0) return -errno;
    return 0;
}

static uint64_t rng;
static uint64_t next_rand(void) {
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

/* Descriptors of open files. A file released by the kernel while data is still pending
 * keeps its descriptor (`released`), so a torn prefix can still be written to that inode;
 * it is closed once nothing is pending any more. */
typedef struct handle { int fd; int released; dev_t dev; ino_t ino; struct handle *link; } handle_t;
static handle_t *handles;

static int fd_of(cache_t *c) {
    for (handle_t *h = handles; h; h = h->link)
        if (h->ino == c->ino && h->dev == c->dev) return h->fd;
    return -1;
}
static void close_released(void) {
    handle_t **pp = &handles;
    while (*pp) {
        handle_t *h = *pp;
        cache_t *c = find(h->dev, h->ino);
        if (h->released && !(c && c->pending)) { *pp = h->link; close(h->fd); free(h); }
        else pp = &h->link;
    }
}

/* The crash: every file reverts to its backing content, plus (torn) a random-length
 * prefix of its unsynced writes in write order, cut inside one write. */
static void lose_apply(int torn) {
    unsigned long long lost = 0, kept = 0;
    for (cache_t *c = caches; c; c = c->link) {
        if (!c->pending) continue;
        size_t keep = torn ? (size_t)(next_rand() % c->pending) : 0;
        int fd = keep ? fd_of(c) : -1;
        if (fd >= 0 && persist(c, fd, keep) == 0 && fdatasync(fd) == 0)
            kept += keep;
        else
            keep = 0;
        lost += c->pending - keep;
        drop_extents(c);
    }
    st.losses++;
    st.lost_bytes += lost;
    st.last_lost_bytes = lost;
    st.torn_kept_bytes += kept;
    st.last_torn_kept_bytes = kept;
    close_released();
    /* forget every cache: sizes are rebuilt from the backing files on next use */
    while (caches) { cache_t *c = caches; caches = c->link; free(c->ext); free(c); }
}

/* ---- operations ---------------------------------------------------------------------- */
#define FH_CONTROL ((uint64_t)-1)

/* The backing descriptor behind `fi`, or -1 (no fi, a directory, the control file). */
static int hfd(struct fuse_file_info *fi) {
    if (!fi || !fi->fh || fi->fh == FH_CONTROL) return -1;
    return ((handle_t *)(uintptr_t)fi->fh)->fd;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    (void)conn;
    cfg->use_ino = 1;
    cfg->attr_timeout = 0;     /* sizes change behind the kernel's back on a crash */
    cfg->entry_timeout = 0;
    cfg->negative_timeout = 0;
    cfg->hard_remove = 1;      /* no .fuse_hidden files: rmdir of a DB dir must work */
    cfg->nullpath_ok = 1;
    return NULL;
}

static int op_getattr(const char *path, struct stat *s, struct fuse_file_info *fi) {
    if (path && !strcmp(path, CONTROL)) {
        memset(s, 0, sizeof *s);
        s->st_mode = S_IFREG | 0600; s->st_nlink = 1; s->st_size = 0;
        return 0;
    }
    if (!path && hfd(fi) < 0) return -ENOENT;
    int r = !path ? fstat(hfd(fi), s) : fstatat(rootfd, rel(path), s, AT_SYMLINK_NOFOLLOW);
    if (r < 0) return -errno;
    if (S_ISREG(s->st_mode)) {
        cache_t *c = find(s->st_dev, s->st_ino);
        if (c && c->size > s->st_size) s->st_size = c->size;
    }
    return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
    (void)off; (void)flags;
    int fd = hfd(fi) >= 0 ? dup(hfd(fi)) : path ? openat(rootfd, rel(path), O_RDONLY | O_DIRECTORY)
                                               : (errno = ENOENT, -1);
    if (fd < 0) return -errno;
    lseek(fd, 0, SEEK_SET);
    DIR *d = fdopendir(fd);
    if (!d) { close(fd); return -errno; }
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat s = {0};
        s.st_ino = e->d_ino;
        s.st_mode = DTTOIF(e->d_type);
        if (fill(buf, e->d_name, &s, 0, 0)) break;
    }
    closedir(d);
    return 0;
}

/* Directory handles are handle_t too (so fstat via fi works), but not in `handles`. */
static int op_opendir(const char *p, struct fuse_file_info *fi) {
    if (!p) return -ENOENT;
    int fd = openat(rootfd, rel(p), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -errno;
    handle_t *h = calloc(1, sizeof *h);
    if (!h) { close(fd); return -ENOMEM; }
    h->fd = fd;
    fi->fh = (uint64_t)(uintptr_t)h;
    return 0;
}
static int op_releasedir(const char *p, struct fuse_file_info *fi) {
    (void)p;
    handle_t *h = (handle_t *)(uintptr_t)fi->fh;
    if (h) { close(h->fd); free(h); }
    return 0;
}

static int op_mkdir(const char *p, mode_t m) { return mkdirat(rootfd, rel(p), m) ? -errno : 0; }
static int op_rmdir(const char *p) { return unlinkat(rootfd, rel(p), AT_REMOVEDIR) ? -errno : 0; }
static int op_unlink(const char *p) { return unlinkat(rootfd, rel(p), 0) ? -errno : 0; }
static int op_rename(const char *a, const char *b, unsigned int flags) {
    return renameat2(rootfd, rel(a), rootfd, rel(b), flags) ? -errno : 0;
}
static int op_symlink(const char *to, const char *p) { return symlinkat(to, rootfd, rel(p)) ? -errno : 0; }
static int op_link(const char *a, const char *b) { return linkat(rootfd, rel(a), rootfd, rel(b), 0) ? -errno : 0; }
static int op_readlink(const char *p, char *buf, size_t n) {
    ssize_t r = readlinkat(rootfd, rel(p), buf, n - 1);
    if (r < 0) return -errno;
    buf[r] = 0;
    return 0;
}
static int op_chmod(const char *p, mode_t m, struct fuse_file_info *fi) {
    if (!p && hfd(fi) < 0) return -ENOENT;
    if (!p) return fchmod(hfd(fi), m) ? -errno : 0;
    return fchmodat(rootfd, rel(p), m, 0) ? -errno : 0;
}
static int op_chown(const char *p, uid_t u, gid_t g, struct fuse_file_info *fi) {
    if (!p && hfd(fi) < 0) return -ENOENT;
    if (!p) return fchown(hfd(fi), u, g) ? -errno : 0;
    return fchownat(rootfd, rel(p), u, g, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}
static int op_utimens(const char *p, const struct timespec tv[2], struct fuse_file_info *fi) {
    if (p && !strcmp(p, CONTROL)) return 0;
    if (!p && hfd(fi) < 0) return -ENOENT;
    if (!p) return futimens(hfd(fi), tv) ? -errno : 0;
    return utimensat(rootfd, rel(p), tv, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static void clip(cache_t *c, off_t size) {
    size_t kept = 0, pending = 0;
    for (size_t i = 0; i < c->next; i++) {
        extent_t *e = &c->ext[i];
        if (e->off >= size) { free(e->data); continue; }
        if (e->off + (off_t)e->len > size) e->len = (size_t)(size - e->off);
        c->ext[kept++] = *e;
        pending += e->len;
    }
    c->next = kept; c->pending = pending; c->size = size;
}

static int op_truncate(const char *p, off_t size, struct fuse_file_info *fi) {
    if (p && !strcmp(p, CONTROL)) return 0;
    int own = hfd(fi) < 0;
    if (own && !p) return -ENOENT;
    int fd = own ? openat(rootfd, rel(p), O_WRONLY) : hfd(fi);
    if (fd < 0) return -errno;
    int r = ftruncate(fd, size) ? -errno : 0;
    if (!r) {
        struct stat s;
        if (fstat(fd, &s) == 0) { cache_t *c = find(s.st_dev, s.st_ino); if (c) clip(c, size); }
    }
    if (own) close(fd);
    return r;
}

static int add_handle(int fd, struct fuse_file_info *fi) {
    handle_t *h = calloc(1, sizeof *h);
    struct stat s;
    if (!h || fstat(fd, &s) < 0) { close(fd); free(h); return -ENOMEM; }
    h->fd = fd; h->dev = s.st_dev; h->ino = s.st_ino; h->link = handles; handles = h;
    fi->fh = (uint64_t)(uintptr_t)h;
    return 0;
}

static int op_open(const char *p, struct fuse_file_info *fi) {
    if (!p) return -ENOENT;
    if (!strcmp(p, CONTROL)) { fi->fh = FH_CONTROL; fi->direct_io = 1; return 0; }
    /* O_APPEND is the kernel's business (it passes the offset); the backing fd must be
     * readable so reads can merge, and never O_TRUNC'd behind the cache's back */
    int flags = (fi->flags & ~(O_APPEND | O_ACCMODE | O_CREAT | O_EXCL)) | O_RDWR;
    int fd = openat(rootfd, rel(p), flags);
    if (fd < 0 && errno == EACCES) fd = openat(rootfd, rel(p), O_RDONLY);
    if (fd < 0) return -errno;
    if (fi->flags & O_TRUNC) {
        struct stat s;
        if (fstat(fd, &s) == 0) { cache_t *c = find(s.st_dev, s.st_ino); if (c) clip(c, 0); }
    }
    return add_handle(fd, fi);
}

static int op_create(const char *p, mode_t m, struct fuse_file_info *fi) {
    int fd = openat(rootfd, rel(p), (fi->flags & ~(O_APPEND | O_ACCMODE)) | O_RDWR | O_CREAT, m);
    if (fd < 0) return -errno;
    struct stat s;
    if (fstat(fd, &s) == 0) forget(s.st_dev, s.st_ino);
    return add_handle(fd, fi);
}

static int op_mknod(const char *p, mode_t m, dev_t dev) {
    if (mknodat(rootfd, rel(p), m, dev) < 0) return -errno;
    struct stat s;
    if (fstatat(rootfd, rel(p), &s, 0) == 0) forget(s.st_dev, s.st_ino);
    return 0;
}

static char ctl_out[1024];
static int ctl_stats(void) {
    unsigned long long pending = 0, files = 0;
    for (cache_t *c = caches; c; c = c->link) if (c->pending) { pending += c->pending; files++; }
    return snprintf(ctl_out, sizeof ctl_out,
                    "{\"pending_bytes\": %llu, \"pending_files\": %llu, \"writes\": %llu, "
                    "\"write_bytes\": %llu, \"fsyncs\": %llu, \"synced_bytes\": %llu, "
                    "\"losses\": %llu, \"lost_bytes\": %llu, \"last_lost_bytes\": %llu, "
                    "\"torn_kept_bytes\": %llu, \"last_torn_kept_bytes\": %llu, \"slow_fsync_ms\": %ld, \"slow_write_ms\": %ld}\n",
                    pending, files, st.writes, st.write_bytes, st.fsyncs, st.synced_bytes,
                    st.losses, st.lost_bytes, st.last_lost_bytes, st.torn_kept_bytes, st.last_torn_kept_bytes,
                    st.slow_fsync_ms, st.slow_write_ms);
}

static int op_read(const char *p, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)p;
    if (fi->fh == FH_CONTROL) {
        int n = ctl_stats();
        if (off >= n) return 0;
        size_t k = (size_t)(n - off) < size ? (size_t)(n - off) : size;
        memcpy(buf, ctl_out + off, k);
        return (int)k;
    }
    int fd = ((handle_t *)(uintptr_t)fi->fh)->fd;
    struct stat s;
    if (fstat(fd, &s) < 0) return -errno;
    cache_t *c = find(s.st_dev, s.st_ino);
    off_t size_l = c && c->size > s.st_size ? c->size : s.st_size;
    if (off >= size_l) return 0;
    if ((off_t)size > size_l - off) size = (size_t)(size_l - off);
    ssize_t r = pread(fd, buf, size, off);
    if (r < 0) return -errno;
    if ((size_t)r < size) memset(buf + r, 0, size - r);  /* cached bytes past backing EOF */
    if (c)
        for (size_t i = 0; i < c->next; i++) {  /* later writes win: apply in order */
            extent_t *e = &c->ext[i];
            off_t a = e->off > off ? e->off : off;
            off_t b = e->off + (off_t)e->len < off + (off_t)size ? e->off + (off_t)e->len
                                                                  : off + (off_t)size;
            if (a < b) memcpy(buf + (a - off), e->data + (a - e->off), (size_t)(b - a));
        }
    return (int)size;
}

static int op_write(const char *p, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi) {
    (void)p;
    if (fi->fh == FH_CONTROL) {
        char cmd[128] = {0};
        memcpy(cmd, buf, size < sizeof cmd - 1 ? size : sizeof cmd - 1);
        unsigned long long seed = 0;
        long a = 0, b = 0;
        if (!strncmp(cmd, "lose-torn", 9)) {
            sscanf(cmd + 9, "%llu", &seed);
            rng = seed * 0x9E3779B97F4A7C15ULL + 1;
            lose_apply(1);
        } else if (!strncmp(cmd, "lose", 4)) {
            lose_apply(0);
        } else if (sscanf(cmd, "slow %ld %ld", &a, &b) >= 1) {
            st.slow_fsync_ms = a; st.slow_write_ms = b;
        } else {
            return -EINVAL;
        }
        return (int)size;
    }
    msleep(st.slow_write_ms);
    cache_t *c = get(((handle_t *)(uintptr_t)fi->fh)->fd);
    if (!c) return -ENOMEM;
    st.writes++; st.write_bytes += size;
    extent_t *last = c->next ? &c->ext[c->next - 1] : NULL;
    if (last && last->off + (off_t)last->len == off) {  /* an append: grow the last extent */
        if (last->len + size > last->cap) {
            size_t cap = (last->len + size) * 2;
            char *d = realloc(last->data, cap);
            if (!d) return -ENOMEM;
            last->data = d; last->cap = cap;
        }
        memcpy(last->data + last->len, buf, size);
        last->len += size;
    } else {
        if (c->next == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 16;
            extent_t *e = realloc(c->ext, cap * sizeof *e);
            if (!e) return -ENOMEM;
            c->ext = e; c->cap = cap;
        }
        char *d = malloc(size ? size : 1);
        if (!d) return -ENOMEM;
        memcpy(d, buf, size);
        c->ext[c->next++] = (extent_t){off, size, size, d};
    }
    c->pending += size;
    if (off + (off_t)size > c->size) c->size = off + (off_t)size;
    return (int)size;
}

static int op_fsync(const char *p, int datasync, struct fuse_file_info *fi) {
    (void)p;
    if (fi->fh == FH_CONTROL) return 0;
    int fd = ((handle_t *)(uintptr_t)fi->fh)->fd;
    struct stat s;
    if (fstat(fd, &s) < 0) return -errno;
    return do_sync(find(s.st_dev, s.st_ino), fd, datasync);
}

static int op_fsyncdir(const char *p, int datasync, struct fuse_file_info *fi) {
    (void)datasync; (void)fi;
    if (hfd(fi) >= 0) return fsync(hfd(fi)) ? -errno : 0;
    if (!p) return -ENOENT;
    int fd = openat(rootfd, rel(p), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -errno;
    int r = fsync(fd) ? -errno : 0;
    close(fd);
    return r;
}

static int op_release(const char *p, struct fuse_file_info *fi) {
    (void)p;
    if (fi->fh == FH_CONTROL) return 0;
    handle_t *h = (handle_t *)(uintptr_t)fi->fh;
    h->released = 1;  /* unsynced data outlives close(), as in a page cache */
    close_released();
    return 0;
}

static int op_statfs(const char *p, struct statvfs *s) {
    (void)p;
    return fstatvfs(rootfd, s) ? -errno : 0;
}

static int op_fallocate(const char *p, int mode, off_t off, off_t len, struct fuse_file_info *fi) {
    (void)p;
    if (fi->fh == FH_CONTROL) return -EOPNOTSUPP;
    int fd = ((handle_t *)(uintptr_t)fi->fh)->fd;
    if (fallocate(fd, mode, off, len) < 0) return -errno;
    struct stat s;
    if (fstat(fd, &s) == 0) { cache_t *c = find(s.st_dev, s.st_ino); if (c && s.st_size > c->size) c->size = s.st_size; }
    return 0;
}

static int op_access(const char *p, int mask) {
    if (!p) return -ENOENT;
    if (!strcmp(p, CONTROL)) return 0;
    return faccessat(rootfd, rel(p), mask, 0) ? -errno : 0;
}

static const struct fuse_operations ops = {
    .init = op_init, .getattr = op_getattr, .readdir = op_readdir, .mkdir = op_mkdir,
    .rmdir = op_rmdir, .unlink = op_unlink, .rename = op_rename, .symlink = op_symlink,
    .link = op_link, .readlink = op_readlink, .chmod = op_chmod, .chown = op_chown,
    .utimens = op_utimens, .truncate = op_truncate, .open = op_open, .create = op_create,
    .mknod = op_mknod, .read = op_read, .write = op_write, .fsync = op_fsync,
    .fsyncdir = op_fsyncdir, .opendir = op_opendir, .releasedir = op_releasedir, .release = op_release, .statfs = op_statfs,
    .fallocate = op_fallocate, .access = op_access,
};

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: sbfs BACKING_DIR MOUNTPOINT [fuse options]\n");
        return 2;
    }
    rootfd = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (rootfd < 0) { perror("sbfs: backing dir"); return 2; }
    umask(0);
    argv[1] = argv[0];  /* fuse_main sees: sbfs MOUNTPOINT [options] */
    return fuse_main(argc - 1, argv + 1, &ops, NULL);
}
