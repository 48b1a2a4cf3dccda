/* sbnfq: splitbrain's userspace packet scheduler behind an iptables NFQUEUE rule.
 *
 * Runs inside one node's network namespace, bound to one NFQUEUE number. Every packet
 * the run's chain sends to the queue is dropped, corrupted, duplicated, sent at once
 * (reordered past the delayed ones) or held for delay + jitter and then accepted, with
 * the probabilities given on the command line. It speaks nfnetlink_queue directly
 * (no libnetfilter_queue), so it builds with gcc + libc only and links statically, and
 * the same binary can be copied to nodes that have no netfilter libraries.
 *
 *   sbnfq QUEUE STATS_PATH [delay_us=N] [jitter_us=N] [dist=uniform|normal|pareto]
 *         [corr=0..1] [loss=p] [dup=p] [reorder=p] [reorder_corr=0..1] [corrupt=p]
 *         [seed=N] [mark=N] [owner=PID]
 *
 * Probabilities are 0..1. Duplicates are sent through a raw socket carrying SO_MARK
 * `mark`, which the NFQUEUE rule excludes, so a copy is never queued again. STATS_PATH
 * receives a JSON object of counters every 200 ms (when changed) and at exit.
 *
 * Safety: SIGTERM/SIGINT (or the owner pid vanishing) releases every held packet with
 * ACCEPT before exit, so stopping the scheduler never blackholes traffic; the rule is
 * installed with --queue-bypass and the queue with FAIL_OPEN, so a dead scheduler or a
 * full queue lets packets through rather than dropping them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>

#define BUFSZ (256 * 1024)
#define MAXPKT 65536

static volatile sig_atomic_t stopping = 0;
static void on_signal(int s) { (void)s; stopping = 1; }

/* ---- configuration and counters ---------------------------------------------------- */
static struct {
    long delay_us, jitter_us;
    int dist; /* 0 uniform, 1 normal, 2 pareto */
    double corr, loss, dup, reorder, reorder_corr, corrupt;
    uint64_t seed;
    uint32_t mark;
    long owner;
} cfg = {0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x5b0b, 0};

static struct {
    unsigned long long seen, accepted, dropped, duplicated, reordered, corrupted, delayed,
        held_max, verdict_errors, recv_errors, dup_errors;
    double delay_sum_us;
} st;

/* ---- randomness: xorshift64*, seeded, so a run's seed replays the decisions ---------- */
static uint64_t rng_state;
static double urand(void) {
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}
static double gauss(void) {
    double u1 = urand(), u2 = urand();
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}
static int chance(double p) { return p > 0 && urand() < p; }

/* A correlated draw like netem's: the new value leans on the last by `corr`. */
static double corr_last_u = 0.5, corr_last_g = 0, reorder_last = 0.5;
static long draw_delay_us(void) {
    double d = (double)cfg.delay_us, j = (double)cfg.jitter_us;
    if (j > 0) {
        if (cfg.dist == 1) {           /* normal, sigma = jitter; AR(1) keeps N(0,1) */
            double g = cfg.corr * corr_last_g + sqrt(1 - cfg.corr * cfg.corr) * gauss();
            corr_last_g = g;
            d += j * g;
        } else if (cfg.dist == 2) {    /* pareto (alpha 3), shifted to mean 0, scale j */
            double u = (1 - cfg.corr) * urand() + cfg.corr * corr_last_u;
            corr_last_u = u;
            if (u > 0.999999) u = 0.999999;
            d += j * (pow(1 - u, -1.0 / 3.0) - 1.5);
        } else {                       /* uniform in [-j, j] */
            double u = (1 - cfg.corr) * urand() + cfg.corr * corr_last_u;
            corr_last_u = u;
            d += j * (2 * u - 1);
        }
    }
    return d < 0 ? 0 : (long)d;
}

/* ---- held packets: a binary heap ordered by (release time, arrival) ----------------- */
typedef struct {
    uint64_t at_ns, seq;
    uint32_t id;
    unsigned char *payload; /* non-NULL: send this (corrupted) payload with the verdict */
    uint32_t len;
    unsigned char *dup;     /* non-NULL: send this copy through the raw socket first */
    uint32_t dup_len;
} held_t;
static held_t *heap; static size_t nheap, capheap;
static int before(const held_t *a, const held_t *b) {
    return a->at_ns < b->at_ns || (a->at_ns == b->at_ns && a->seq < b->seq);
}
static void heap_push(held_t h) {
    if (nheap == capheap) {
        capheap = capheap ? capheap * 2 : 1024;
        heap = realloc(heap, capheap * sizeof *heap);
        if (!heap) { perror("realloc"); exit(3); }
    }
    size_t i = nheap++;
    heap[i] = h;
    while (i && before(&heap[i], &heap[(i - 1) / 2])) {
        held_t t = heap[i]; heap[i] = heap[(i - 1) / 2]; heap[(i - 1) / 2] = t; i = (i - 1) / 2;
    }
    if (nheap > st.held_max) st.held_max = nheap;
}
static held_t heap_pop(void) {
    held_t top = heap[0];
    heap[0] = heap[--nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < nheap && before(&heap[l], &heap[m])) m = l;
        if (r < nheap && before(&heap[r], &heap[m])) m = r;
        if (m == i) break;
        held_t t = heap[i]; heap[i] = heap[m]; heap[m] = t; i = m;
    }
    return top;
}

static uint64_t now_ns(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---- netlink -------------------------------------------------------------------------- */
static int nl, raw = -1;
static uint16_t queue_num;
static uint32_t nl_seq = 1;

static void put_attr(struct nlmsghdr *n, uint16_t type, const void *data, uint16_t len) {
    struct nlattr *a = (struct nlattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
    a->nla_type = type;
    a->nla_len = NLA_HDRLEN + len;
    memcpy((char *)a + NLA_HDRLEN, data, len);
    n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + NLA_ALIGN(a->nla_len);
}
static struct nlmsghdr *start_msg(char *buf, uint8_t type, uint16_t flags, uint8_t family) {
    struct nlmsghdr *n = (struct nlmsghdr *)buf;
    memset(buf, 0, NLMSG_HDRLEN + sizeof(struct nfgenmsg));
    n->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    n->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
    n->nlmsg_flags = NLM_F_REQUEST | flags;
    n->nlmsg_seq = nl_seq++;
    struct nfgenmsg *g = NLMSG_DATA(n);
    g->nfgen_family = family;
    g->version = NFNETLINK_V0;
    g->res_id = htons(queue_num);
    return n;
}
static int send_msg(struct nlmsghdr *n) {
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    return sendto(nl, n, n->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0 ? -1 : 0;
}
/* Send a config message and wait for its ACK; returns 0 or the kernel's errno. */
static int config(struct nlmsghdr *n) {
    if (send_msg(n) < 0) return errno;
    char buf[8192];
    for (;;) {
        ssize_t r = recv(nl, buf, sizeof buf, 0);
        if (r < 0) { if (errno == EINTR) continue; return errno; }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, r); h = NLMSG_NEXT(h, r))
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = NLMSG_DATA(h);
                if (h->nlmsg_seq == n->nlmsg_seq) return -e->error;
            }
    }
}

static void verdict(uint32_t id, uint32_t v, const unsigned char *payload, uint32_t len) {
    static char buf[MAXPKT + 512];
    struct nlmsghdr *n = start_msg(buf, NFQNL_MSG_VERDICT, 0, AF_UNSPEC);
    struct nfqnl_msg_verdict_hdr vh = {htonl(v), htonl(id)};
    put_attr(n, NFQA_VERDICT_HDR, &vh, sizeof vh);
    if (payload) put_attr(n, NFQA_PAYLOAD, payload, len);
    if (send_msg(n) < 0) st.verdict_errors++;
    if (v == NF_ACCEPT) st.accepted++;
}

static void send_dup(const unsigned char *p, uint32_t len) {
    if (raw < 0 || len < sizeof(struct iphdr)) { st.dup_errors++; return; }
    const struct iphdr *ip = (const struct iphdr *)p;
    struct sockaddr_in to = {.sin_family = AF_INET};
    to.sin_addr.s_addr = ip->daddr;
    if (sendto(raw, p, len, 0, (struct sockaddr *)&to, sizeof to) < 0) st.dup_errors++;
    else st.duplicated++;
}

static void release(held_t *h) {
    if (h->dup) { send_dup(h->dup, h->dup_len); free(h->dup); }
    verdict(h->id, NF_ACCEPT, h->payload, h->len);
    free(h->payload);
}

/* Flip one random bit past the IP header, so the packet still routes and the
 * receiver's transport checksum (TCP/UDP/ICMP) rejects it, as on a bad link. */
static void corrupt(unsigned char *p, uint32_t len) {
    uint32_t hl = len >= 20 ? (uint32_t)(p[0] & 0xf) * 4 : 0;
    if (hl >= len) hl = 0;
    uint32_t i = hl + (uint32_t)(urand() * (len - hl));
    if (i >= len) i = len - 1;
    p[i] ^= (unsigned char)(1u << (int)(urand() * 8));
}

static void on_packet(struct nlmsghdr *h) {
    struct nlattr *a;
    uint32_t id = 0; int have_id = 0;
    unsigned char *pl = NULL; uint32_t plen = 0;
    int rem = h->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
    for (a = (struct nlattr *)((char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
         rem >= (int)NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= rem;
         rem -= NLA_ALIGN(a->nla_len), a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len))) {
        int type = a->nla_type & NLA_TYPE_MASK;
        if (type == NFQA_PACKET_HDR) {
            struct nfqnl_msg_packet_hdr *ph = (void *)((char *)a + NLA_HDRLEN);
            id = ntohl(ph->packet_id); have_id = 1;
        } else if (type == NFQA_PAYLOAD) {
            pl = (unsigned char *)a + NLA_HDRLEN; plen = a->nla_len - NLA_HDRLEN;
        }
    }
    if (!have_id) return;
    st.seen++;
    if (chance(cfg.loss)) { verdict(id, NF_DROP, NULL, 0); st.dropped++; return; }
    held_t hp = {0};
    hp.id = id;
    if (pl && chance(cfg.dup)) {
        hp.dup = malloc(plen); if (hp.dup) { memcpy(hp.dup, pl, plen); hp.dup_len = plen; }
    }
    if (pl && chance(cfg.corrupt)) {
        hp.payload = malloc(plen);
        if (hp.payload) { memcpy(hp.payload, pl, plen); hp.len = plen; corrupt(hp.payload, plen);
                          st.corrupted++; }
    }
    /* netem's reorder with gap 1: this share skips the delay and overtakes held packets */
    int jump = 0;
    if (cfg.reorder > 0 && cfg.delay_us > 0) {
        double u = (1 - cfg.reorder_corr) * urand() + cfg.reorder_corr * reorder_last;
        reorder_last = u;
        jump = u < cfg.reorder;
    }
    long d = jump ? 0 : draw_delay_us();
    if (jump) st.reordered++;
    if (d <= 0) { release(&hp); return; }
    st.delayed++;
    st.delay_sum_us += d;
    static uint64_t seq;
    hp.at_ns = now_ns() + (uint64_t)d * 1000ULL;
    hp.seq = seq++;
    heap_push(hp);
}

/* ---- stats ---------------------------------------------------------------------------- */
static const char *stats_path;
static void write_stats(int final) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", stats_path);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "{\"seen\": %llu, \"accepted\": %llu, \"dropped\": %llu, \"duplicated\": %llu, "
               "\"reordered\": %llu, \"corrupted\": %llu, \"delayed\": %llu, \"held\": %zu, "
               "\"held_max\": %llu, \"mean_added_delay_ms\": %.3f, \"verdict_errors\": %llu, "
               "\"recv_errors\": %llu, \"dup_errors\": %llu, \"final\": %s}\n",
            st.seen, st.accepted, st.dropped, st.duplicated, st.reordered, st.corrupted,
            st.delayed, nheap, st.held_max, st.delayed ? st.delay_sum_us / st.delayed / 1000 : 0.0,
            st.verdict_errors, st.recv_errors, st.dup_errors, final ? "true" : "false");
    fclose(f);
    rename(tmp, stats_path);
}

static int parse_kv(const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq) return -1;
    size_t k = eq - kv;
    const char *v = eq + 1;
#define IS(name) (k == strlen(name) && !strncmp(kv, name, k))
    if (IS("delay_us")) cfg.delay_us = atol(v);
    else if (IS("jitter_us")) cfg.jitter_us = atol(v);
    else if (IS("dist")) {
        if (!strcmp(v, "uniform")) cfg.dist = 0;
        else if (!strcmp(v, "normal")) cfg.dist = 1;
        else if (!strcmp(v, "pareto")) cfg.dist = 2;
        else return -1;
    } else if (IS("corr")) cfg.corr = atof(v);
    else if (IS("loss")) cfg.loss = atof(v);
    else if (IS("dup")) cfg.dup = atof(v);
    else if (IS("reorder")) cfg.reorder = atof(v);
    else if (IS("reorder_corr")) cfg.reorder_corr = atof(v);
    else if (IS("corrupt")) cfg.corrupt = atof(v);
    else if (IS("seed")) cfg.seed = strtoull(v, NULL, 10);
    else if (IS("mark")) cfg.mark = (uint32_t)strtoul(v, NULL, 0);
    else if (IS("owner")) cfg.owner = atol(v);
    else return -1;
#undef IS
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: sbnfq QUEUE STATS_PATH [key=value...]\n");
        return 2;
    }
    queue_num = (uint16_t)atoi(argv[1]);
    stats_path = argv[2];
    for (int i = 3; i < argc; i++)
        if (parse_kv(argv[i])) { fprintf(stderr, "sbnfq: bad argument %s\n", argv[i]); return 2; }
    if (cfg.corr < 0 || cfg.corr >= 1) cfg.corr = 0;
    rng_state = cfg.seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    if (!rng_state) rng_state = 1;

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (nl < 0) { perror("sbnfq: netlink socket"); return 3; }
    int big = 16 * 1024 * 1024;
    if (setsockopt(nl, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
        setsockopt(nl, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    int one = 1;
    setsockopt(nl, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
    struct sockaddr_nl local = {.nl_family = AF_NETLINK};
    if (bind(nl, (struct sockaddr *)&local, sizeof local) < 0) { perror("sbnfq: bind"); return 3; }

    char buf[512];
    struct nlmsghdr *n = start_msg(buf, NFQNL_MSG_CONFIG, NLM_F_ACK, AF_UNSPEC);
    struct nfqnl_msg_config_cmd cmd = {NFQNL_CFG_CMD_BIND, 0, htons(AF_INET)};
    put_attr(n, NFQA_CFG_CMD, &cmd, sizeof cmd);
    int err = config(n);
    if (err) { fprintf(stderr, "sbnfq: bind queue %u: %s\n", queue_num, strerror(err)); return 3; }

    int need_payload = cfg.dup > 0 || cfg.corrupt > 0;
    n = start_msg(buf, NFQNL_MSG_CONFIG, NLM_F_ACK, AF_UNSPEC);
    struct nfqnl_msg_config_params params = {htonl(need_payload ? 0xffff : 0),
                                             need_payload ? NFQNL_COPY_PACKET : NFQNL_COPY_META};
    put_attr(n, NFQA_CFG_PARAMS, &params, sizeof params);
    uint32_t maxlen = htonl(65536);
    put_attr(n, NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof maxlen);
    uint32_t flags = htonl(NFQA_CFG_F_FAIL_OPEN), mask = htonl(NFQA_CFG_F_FAIL_OPEN);
    put_attr(n, NFQA_CFG_FLAGS, &flags, sizeof flags);
    put_attr(n, NFQA_CFG_MASK, &mask, sizeof mask);
    if ((err = config(n))) { fprintf(stderr, "sbnfq: configure queue: %s\n", strerror(err)); return 3; }

    if (cfg.dup > 0) {
        raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
        if (raw < 0 || setsockopt(raw, SOL_SOCKET, SO_MARK, &cfg.mark, sizeof cfg.mark) < 0) {
            perror("sbnfq: raw socket for duplicates");
            return 3;
        }
    }
    write_stats(0);
    fprintf(stderr, "sbnfq: queue %u ready\n", queue_num);

    static char rbuf[BUFSZ];
    uint64_t last_stats = 0, last_owner = 0;
    unsigned long long stats_seen = 0;
    while (!stopping) {
        uint64_t t = now_ns();
        while (nheap && heap[0].at_ns <= t) { held_t h = heap_pop(); release(&h); }
        if (t - last_stats > 200000000ULL) {
            if (st.seen != stats_seen || st.accepted) { write_stats(0); stats_seen = st.seen; }
            last_stats = t;
        }
        if (cfg.owner > 0 && t - last_owner > 500000000ULL) {
            last_owner = t;
            if (kill((pid_t)cfg.owner, 0) < 0 && errno == ESRCH) break;
        }
        struct timespec to = {0, 200000000};
        if (nheap) {
            uint64_t wait = heap[0].at_ns > t ? heap[0].at_ns - t : 0;
            if (wait < 200000000ULL) { to.tv_sec = 0; to.tv_nsec = (long)wait; }
        }
        struct pollfd pfd = {nl, POLLIN, 0};
        int pr = ppoll(&pfd, 1, &to, NULL);
        if (pr <= 0) continue;
        /* drain what is there without blocking, then go back to releasing due packets */
        for (int k = 0; k < 64; k++) {
            ssize_t r = recv(nl, rbuf, sizeof rbuf, MSG_DONTWAIT);
            if (r < 0) {
                if (errno != EAGAIN && errno != EINTR) st.recv_errors++;
                break;
            }
            for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, r); h = NLMSG_NEXT(h, r))
                if ((h->nlmsg_type & 0xff) == NFQNL_MSG_PACKET &&
                    (h->nlmsg_type >> 8) == NFNL_SUBSYS_QUEUE)
                    on_packet(h);
            if (nheap && heap[0].at_ns <= now_ns()) break;
        }
    }
    /* never blackhole: everything still held goes out now */
    while (nheap) { held_t h = heap_pop(); release(&h); }
    n = start_msg(buf, NFQNL_MSG_CONFIG, 0, AF_UNSPEC);
    struct nfqnl_msg_config_cmd unbind = {NFQNL_CFG_CMD_UNBIND, 0, htons(AF_INET)};
    put_attr(n, NFQA_CFG_CMD, &unbind, sizeof unbind);
    send_msg(n);
    write_stats(1);
    return 0;
}
