/* A consumer group through the C API, one thread per member: the first member takes all four
 * partitions, a second joins and the rebalance splits them (callbacks on each member's own
 * thread), records produced while both are stable are read exactly once, the second
 * unsubscribes and the first takes everything back; commits and committed offsets at the end;
 * the first member's revoke on close. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferrokafka.h"

#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); fflush(stdout); exit(1); } } while (0)

#define TOPIC "grp"
#define PARTITIONS 4
#define FIRST 200 /* records read by the first member alone */
#define TOTAL 300 /* and those read while the group has two members */

typedef struct {
    const char *name;
    fk_consumer_t *c;
    pthread_t thread;
    pthread_t owner; /* the thread allowed to see this member's callbacks */
    atomic_int stop, held, assigns, revokes, lost, records, errors;
} member_t;

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static int seen[TOTAL];

static void on_rebalance(fk_consumer_t *c, int event, const fk_topic_partition_t *parts, size_t count, void *opaque) {
    member_t *m = opaque;
    CHECK(c == m->c, "%s: the callback gets its consumer", m->name);
    CHECK(pthread_equal(pthread_self(), m->owner), "%s: callback on the thread that polls", m->name);
    for (size_t i = 0; i < count; i++)
        CHECK(strcmp(parts[i].topic, TOPIC) == 0 && parts[i].partition >= 0 && parts[i].partition < PARTITIONS, "%s: %s-%d", m->name, parts[i].topic, parts[i].partition);
    switch (event) {
    case FK_REBALANCE_ASSIGN: atomic_fetch_add(&m->assigns, 1); atomic_fetch_add(&m->held, (int)count); break;
    case FK_REBALANCE_REVOKE: atomic_fetch_add(&m->revokes, 1); atomic_fetch_sub(&m->held, (int)count); break;
    case FK_REBALANCE_LOST: atomic_fetch_add(&m->lost, 1); atomic_fetch_sub(&m->held, (int)count); break;
    default: CHECK(0, "%s: unknown event %d", m->name, event);
    }
    printf("%s: %s %zu partition(s), holding %d\n", m->name, event == FK_REBALANCE_ASSIGN ? "assigned" : event == FK_REBALANCE_REVOKE ? "revoked" : "lost", count, atomic_load(&m->held));
}

/* Each member reads on its own thread and commits after every record. */
static void *member_loop(void *arg) {
    member_t *m = arg;
    m->owner = pthread_self();
    char err[256];
    while (!atomic_load(&m->stop)) {
        fk_message_t *msg = fk_consumer_poll(m->c, 100);
        if (!msg) continue;
        if (fk_message_error(msg) != FK_OK) {
            atomic_fetch_add(&m->errors, 1);
            printf("%s: consumer error: %s\n", m->name, fk_message_errstr(msg));
        } else {
            size_t len = 0;
            const char *v = fk_message_value(msg, &len);
            char text[16] = { 0 };
            CHECK(len > 0 && len < sizeof text, "value length %zu", len);
            memcpy(text, v, len);
            int i = atoi(text);
            CHECK(i >= 0 && i < TOTAL, "value %d", i);
            pthread_mutex_lock(&seen_lock);
            seen[i]++;
            pthread_mutex_unlock(&seen_lock);
            atomic_fetch_add(&m->records, 1);
            /* During a rebalance a commit may be refused; the records are then read again. */
            if (fk_commit(m->c, NULL, 0, 0, err, sizeof err) != FK_OK) printf("%s: commit: %s\n", m->name, err);
        }
        fk_message_destroy(msg);
    }
    return NULL;
}

static member_t *member_start(const char *name, const char *bootstrap) {
    char err[256];
    static const char *settings[][2] = {
        { "group.id", "c-group" }, { "auto.offset.reset", "earliest" }, { "enable.auto.commit", "false" },
        { "heartbeat.interval.ms", "100" }, { "session.timeout.ms", "10000" }, { "fetch.max.wait.ms", "100" },
    };
    member_t *m = calloc(1, sizeof *m);
    m->name = name;
    fk_conf_t *conf = fk_conf_new();
    CHECK(fk_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) == FK_OK, "%s", err);
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        CHECK(fk_conf_set(conf, settings[i][0], settings[i][1], err, sizeof err) == FK_OK, "%s", err);
    m->c = fk_consumer_new(conf, err, sizeof err);
    CHECK(m->c != NULL, "%s", err);
    fk_conf_destroy(conf); /* the consumer copied it */
    CHECK(fk_consumer_set_rebalance_cb(m->c, on_rebalance, m) == FK_OK, "set callback");
    const char *topics[] = { TOPIC };
    CHECK(fk_subscribe(m->c, topics, 1, err, sizeof err) == FK_OK, "%s", err);
    CHECK(pthread_create(&m->thread, NULL, member_loop, m) == 0, "thread");
    return m;
}

/* Stops the member's thread; its consumer then belongs to the calling thread. */
static void member_stop(member_t *m) {
    atomic_store(&m->stop, 1);
    CHECK(pthread_join(m->thread, NULL) == 0, "join");
    m->owner = pthread_self();
}

static void sleep_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int count_seen(int from, int to, int exactly_once) {
    int n = 0;
    pthread_mutex_lock(&seen_lock);
    for (int i = from; i < to; i++) n += exactly_once ? seen[i] == 1 : seen[i] >= 1;
    pthread_mutex_unlock(&seen_lock);
    return n;
}

#define WAIT_FOR(cond, what) do { \
    int waited_ = 0; \
    while (!(cond)) { CHECK(waited_ < 90000, "timed out waiting for %s", what); sleep_ms(50); waited_ += 50; } \
} while (0)

static void produce(fk_producer_t *p, int from, int to) {
    char err[256];
    for (int i = from; i < to; i++) {
        char key[16], value[16];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(value, sizeof value, "%d", i);
        CHECK(fk_produce(p, TOPIC, FK_PARTITION_UA, key, strlen(key), value, strlen(value), NULL, 0, 0, NULL, err, sizeof err) == FK_OK, "%s", err);
    }
    CHECK(fk_flush(p, 30000) == FK_OK, "flush");
}

int main(int argc, char **argv) {
    char err[512];
    CHECK(argc == 2, "usage: test_group DATA_DIR");
    fk_broker_t *broker = fk_broker_start(argv[1], NULL, err, sizeof err);
    CHECK(broker != NULL, "%s", err);
    const char *bootstrap = fk_broker_bootstrap(broker);

    fk_conf_t *conf = fk_conf_new();
    CHECK(fk_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) == FK_OK, "%s", err);
    fk_admin_t *admin = fk_admin_new(conf, err, sizeof err);
    CHECK(admin && fk_admin_create_topic(admin, TOPIC, PARTITIONS, -1, err, sizeof err) == FK_OK, "%s", err);
    fk_admin_destroy(admin);
    fk_producer_t *p = fk_producer_new(conf, NULL, NULL, err, sizeof err);
    CHECK(p != NULL, "%s", err);
    produce(p, 0, FIRST);

    /* One member: everything. */
    member_t *a = member_start("a", bootstrap);
    WAIT_FOR(atomic_load(&a->held) == PARTITIONS && count_seen(0, FIRST, 0) == FIRST, "a to read the first records");

    /* A second member: the group rebalances and splits the partitions. */
    member_t *b = member_start("b", bootstrap);
    WAIT_FOR(atomic_load(&a->held) == PARTITIONS / 2 && atomic_load(&b->held) == PARTITIONS / 2, "the split");
    CHECK(atomic_load(&a->revokes) >= 1, "a gave partitions up");

    /* While the group is stable, new records are read once each, by one member or the other. */
    int a_before = atomic_load(&a->records), b_before = atomic_load(&b->records);
    produce(p, FIRST, TOTAL);
    WAIT_FOR(count_seen(FIRST, TOTAL, 0) == TOTAL - FIRST, "the new records");
    sleep_ms(300);
    CHECK(count_seen(FIRST, TOTAL, 1) == TOTAL - FIRST, "read exactly once");
    CHECK(atomic_load(&a->records) > a_before && atomic_load(&b->records) > b_before, "both members read");

    /* The second member leaves: its revoke callback runs in fk_unsubscribe, on this thread. */
    member_stop(b);
    CHECK(fk_unsubscribe(b->c, err, sizeof err) == FK_OK, "%s", err);
    CHECK(atomic_load(&b->held) == 0 && atomic_load(&b->revokes) >= 1, "b gave everything back");
    CHECK(fk_consumer_close(b->c, err, sizeof err) == FK_OK, "%s", err);
    WAIT_FOR(atomic_load(&a->held) == PARTITIONS, "a to take everything back");

    /* What was committed: every partition up to its end. */
    member_stop(a);
    CHECK(fk_commit(a->c, NULL, 0, 0, err, sizeof err) == FK_OK, "%s", err);
    fk_topic_partition_t parts[PARTITIONS];
    for (int i = 0; i < PARTITIONS; i++) parts[i] = (fk_topic_partition_t){ TOPIC, i, 0, -1 };
    CHECK(fk_committed(a->c, parts, PARTITIONS, err, sizeof err) == FK_OK, "%s", err);
    long long committed = 0;
    for (int i = 0; i < PARTITIONS; i++) {
        CHECK(parts[i].err == FK_OK, "per-partition err written");
        committed += parts[i].offset;
    }
    CHECK(committed == TOTAL, "committed %lld of %d", committed, TOTAL);
    CHECK(atomic_load(&a->lost) == 0 && atomic_load(&b->lost) == 0, "no membership lost");
    printf("a read %d, b read %d; a: %d assign(s), %d revoke(s); b: %d assign(s), %d revoke(s)\n", atomic_load(&a->records),
           atomic_load(&b->records), atomic_load(&a->assigns), atomic_load(&a->revokes), atomic_load(&b->assigns), atomic_load(&b->revokes));

    int revokes = atomic_load(&a->revokes);
    CHECK(fk_consumer_close(a->c, err, sizeof err) == FK_OK, "%s", err);
    CHECK(atomic_load(&a->revokes) == revokes + 1 && atomic_load(&a->held) == 0, "close revokes, on this thread");
    fk_consumer_destroy(a->c);
    fk_consumer_destroy(b->c);
    free(a);
    free(b);
    fk_producer_destroy(p);
    fk_conf_destroy(conf);
    CHECK(fk_broker_stop(broker) == FK_OK, "broker stop");
    printf("test_group: all checks passed\n");
    return 0;
}
