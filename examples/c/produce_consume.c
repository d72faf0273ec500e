/* Starts the bundled broker through libferrokafka, produces 1,000 keyed records with a header,
 * reads them back through a consumer group, commits, and says what happened.
 *
 *   make -C bindings-c install PREFIX=$HOME/.local
 *   export PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig
 *   cc examples/c/produce_consume.c $(pkg-config --cflags --libs ferrokafka) -Wl,-rpath,$HOME/.local/lib -o produce_consume
 *   ./produce_consume /tmp/fk-data
 */
#include <stdio.h>
#include <string.h>

#include <ferrokafka.h>

#define RECORDS 1000

static int delivered, per_partition[3];

/* Delivery reports: run by fk_poll/fk_flush on this thread. */
static void on_delivery(const fk_message_t *m, void *opaque) {
    (void)opaque;
    if (fk_message_error(m) != FK_OK) {
        fprintf(stderr, "delivery failed: %s\n", fk_message_errstr(m));
        return;
    }
    delivered++;
    int p = fk_message_partition(m);
    if (p >= 0 && p < 3) per_partition[p]++;
}

/* Rebalance events: run by fk_consumer_poll/fk_consumer_close on this thread. */
static void on_rebalance(fk_consumer_t *c, int event, const fk_topic_partition_t *parts, size_t count, void *opaque) {
    (void)c;
    (void)opaque;
    printf("group     %s", event == FK_REBALANCE_ASSIGN ? "assigned" : event == FK_REBALANCE_REVOKE ? "revoked" : "lost");
    for (size_t i = 0; i < count; i++) printf(" %s-%d", parts[i].topic, parts[i].partition);
    printf("\n");
}

static int fail(const char *what, const char *why) {
    fprintf(stderr, "%s: %s\n", what, why);
    return 1;
}

int main(int argc, char **argv) {
    char err[512];
    fk_broker_t *broker = fk_broker_start(argc > 1 ? argv[1] : "./ferrokafka-data", "127.0.0.1:0", err, sizeof err);
    if (!broker) return fail("broker", err);
    const char *bootstrap = fk_broker_bootstrap(broker);
    printf("broker    listening on %s\n", bootstrap);

    fk_conf_t *conf = fk_conf_new();
    if (fk_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) != FK_OK) return fail("config", err);

    fk_admin_t *admin = fk_admin_new(conf, err, sizeof err);
    if (!admin) return fail("admin", err);
    fk_resp_err_t rc = fk_admin_create_topic(admin, "events", 3, -1, err, sizeof err);
    if (rc != FK_OK && rc != FK_ERR_TOPIC_ALREADY_EXISTS) return fail("create topic", err);
    fk_admin_destroy(admin);

    fk_producer_t *p = fk_producer_new(conf, on_delivery, NULL, err, sizeof err);
    if (!p) return fail("producer", err);
    for (int i = 0; i < RECORDS; i++) {
        char key[16], value[32];
        snprintf(key, sizeof key, "user-%d", i % 10);
        snprintf(value, sizeof value, "{\"event\":%d}", i);
        fk_header_t source = { "source", "c-example", strlen("c-example") };
        while ((rc = fk_produce(p, "events", FK_PARTITION_UA, key, strlen(key), value, strlen(value), &source, 1, 0, NULL, err, sizeof err)) == FK_ERR__QUEUE_FULL)
            fk_poll(p, 100); /* serve delivery reports to make room */
        if (rc != FK_OK) return fail("produce", err);
    }
    if ((rc = fk_flush(p, 30000)) != FK_OK) return fail("flush", fk_err2str(rc));
    printf("produced  %d records; per partition [%d, %d, %d]\n", delivered, per_partition[0], per_partition[1], per_partition[2]);
    fk_producer_destroy(p);

    if (fk_conf_set(conf, "group.id", "c-readers", err, sizeof err) != FK_OK ||
        fk_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err) != FK_OK ||
        fk_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) != FK_OK)
        return fail("config", err);
    fk_consumer_t *c = fk_consumer_new(conf, err, sizeof err);
    fk_conf_destroy(conf); /* the consumer copied what it needs */
    if (!c) return fail("consumer", err);
    fk_consumer_set_rebalance_cb(c, on_rebalance, NULL);
    const char *topics[] = { "events" };
    if (fk_subscribe(c, topics, 1, err, sizeof err) != FK_OK) return fail("subscribe", err);
    int read = 0, idle = 0;
    while (read < delivered && idle < 30) {
        fk_message_t *m = fk_consumer_poll(c, 1000);
        if (!m) { idle++; continue; }
        if (fk_message_error(m) != FK_OK) {
            fprintf(stderr, "consumer error: %s\n", fk_message_errstr(m));
        } else if (read++ == 0) {
            size_t klen = 0, vlen = 0, hlen = 0;
            const char *key = fk_message_key(m, &klen), *value = fk_message_value(m, &vlen), *hname = NULL;
            const void *hvalue = NULL;
            fk_message_header(m, 0, &hname, &hvalue, &hlen);
            printf("first one %s-%d@%lld key=%.*s value=%.*s headers=[(%s, %.*s)]\n", fk_message_topic(m), fk_message_partition(m),
                   (long long)fk_message_offset(m), (int)klen, key, (int)vlen, value, hname, (int)hlen, (const char *)hvalue);
        }
        fk_message_destroy(m);
    }
    if (fk_commit(c, NULL, 0, 0, err, sizeof err) != FK_OK) return fail("commit", err);
    fk_topic_partition_t parts[3] = { { "events", 0, 0, 0 }, { "events", 1, 0, 0 }, { "events", 2, 0, 0 } };
    if (fk_committed(c, parts, 3, err, sizeof err) != FK_OK) return fail("committed", err);
    printf("consumed  %d records through group c-readers, committed [%lld, %lld, %lld]\n", read, (long long)parts[0].offset,
           (long long)parts[1].offset, (long long)parts[2].offset);
    if (fk_consumer_close(c, err, sizeof err) != FK_OK) return fail("close", err);
    fk_consumer_destroy(c);
    if (fk_broker_stop(broker) != FK_OK) return fail("broker stop", fk_last_error());
    printf("done      broker stopped\n");
    return read == RECORDS ? 0 : 1;
}
