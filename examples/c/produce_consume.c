/* Starts the bundled broker through libferrokafka, produces 1,000 records, reads them back
 * through a consumer group and says what happened.
 *
 *   make -C bindings-c install PREFIX=$HOME/.local
 *   cc examples/c/produce_consume.c $(PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig pkg-config --cflags --libs ferrokafka) -o produce_consume
 *   ./produce_consume /tmp/fk-data
 */
#include <stdio.h>
#include <string.h>

#include <ferrokafka.h>

static int delivered;

static void on_delivery(const fk_message_t *m, void *opaque) {
    (void)opaque;
    if (fk_message_error(m) == FK_OK) delivered++;
    else fprintf(stderr, "delivery failed: %s\n", fk_message_errstr(m));
}

int main(int argc, char **argv) {
    char err[512];
    fk_broker_t *broker = fk_broker_start(argc > 1 ? argv[1] : "./ferrokafka-data", "127.0.0.1:0", err, sizeof err);
    if (!broker) { fprintf(stderr, "broker: %s\n", err); return 1; }
    printf("broker    listening on %s\n", fk_broker_bootstrap(broker));

    fk_conf_t *conf = fk_conf_new();
    if (fk_conf_set(conf, "bootstrap.servers", fk_broker_bootstrap(broker), err, sizeof err) != FK_OK) { fprintf(stderr, "%s\n", err); return 1; }
    fk_producer_t *p = fk_producer_new(conf, on_delivery, NULL, err, sizeof err);
    if (!p) { fprintf(stderr, "producer: %s\n", err); return 1; }
    for (int i = 0; i < 1000; i++) {
        char value[32];
        snprintf(value, sizeof value, "event-%d", i);
        while (fk_produce(p, "events", FK_PARTITION_UA, NULL, 0, value, strlen(value), NULL, 0, 0, NULL, err, sizeof err) == FK_ERR__QUEUE_FULL)
            fk_poll(p, 100);
    }
    fk_flush(p, 10000);
    printf("produced  %d records\n", delivered);
    fk_producer_destroy(p);

    fk_conf_set(conf, "group.id", "c-readers", err, sizeof err);
    fk_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
    fk_consumer_t *c = fk_consumer_new(conf, err, sizeof err);
    const char *topics[] = { "events" };
    fk_subscribe(c, topics, 1, err, sizeof err);
    int read = 0;
    while (read < delivered) {
        fk_message_t *m = fk_consumer_poll(c, 1000);
        if (!m) continue;
        if (fk_message_error(m) == FK_OK) read++;
        fk_message_destroy(m);
    }
    fk_commit(c, NULL, 0, 0, err, sizeof err);
    printf("consumed  %d records, committed\n", read);
    fk_consumer_close(c, err, sizeof err);
    fk_consumer_destroy(c);
    fk_conf_destroy(conf);
    fk_broker_stop(broker);
    printf("done      broker stopped\n");
    return 0;
}
