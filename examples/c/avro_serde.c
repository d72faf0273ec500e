/* Avro records through the Schema Registry, libserdes-style: starts the bundled broker (which
 * serves a Schema Registry too), registers an Avro schema, encodes JSON documents under it in
 * Confluent's wire format, produces them, reads them back, decodes them to JSON, and shows a
 * document the schema refuses.
 *
 *   make -C bindings-c install PREFIX=$HOME/.local
 *   export PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig
 *   cc examples/c/avro_serde.c $(pkg-config --cflags --libs ferrokafka) -Wl,-rpath,$HOME/.local/lib -o avro_serde
 *   ./avro_serde /tmp/fk-data
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <ferrokafka.h>

static const char *SCHEMA =
    "{\"type\":\"record\",\"name\":\"Payment\",\"namespace\":\"shop\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"amount\",\"type\":\"double\"},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null}]}";

static const char *PAYMENTS[] = {
    "{\"id\":\"p-1\",\"amount\":9.5}",
    "{\"id\":\"p-2\",\"amount\":120.0,\"note\":\"gift\"}",
    "{\"id\":\"p-3\",\"amount\":0.25}",
};
#define COUNT 3

static int fail(const char *what, const char *why) {
    fprintf(stderr, "%s: %s\n", what, why);
    return 1;
}

int main(int argc, char **argv) {
    char err[512];
    fk_broker_t *broker = fk_broker_start(argc > 1 ? argv[1] : "./ferrokafka-data", NULL, err, sizeof err);
    if (!broker) return fail("broker", err);
    printf("broker    %s, schema registry %s\n", fk_broker_bootstrap(broker), fk_broker_schema_registry_url(broker));

    /* The registry client: Confluent's settings, a NULL-terminated key, value, ... array. */
    const char *settings[] = { "url", fk_broker_schema_registry_url(broker), NULL };
    fk_schema_registry_t *reg = fk_schema_registry_new(settings, err, sizeof err);
    if (!reg) return fail("schema registry", err);
    int32_t id = 0, version = 0;
    if (fk_schema_registry_register(reg, "payments-value", "AVRO", SCHEMA, &id, err, sizeof err) != FK_OK)
        return fail("register", err);
    if (fk_schema_registry_latest(reg, "payments-value", NULL, &version, err, sizeof err) != FK_OK)
        return fail("latest", err);
    printf("schema    payments-value version %d is id %d\n", version, id);

    fk_conf_t *conf = fk_conf_new();
    if (fk_conf_set(conf, "bootstrap.servers", fk_broker_bootstrap(broker), err, sizeof err) != FK_OK) return fail("config", err);
    fk_admin_t *admin = fk_admin_new(conf, err, sizeof err);
    if (!admin) return fail("admin", err);
    fk_resp_err_t rc = fk_admin_create_topic(admin, "payments", 1, -1, err, sizeof err);
    if (rc != FK_OK && rc != FK_ERR_TOPIC_ALREADY_EXISTS) return fail("create topic", err);
    fk_admin_destroy(admin);
    fk_producer_t *p = fk_producer_new(conf, NULL, NULL, err, sizeof err);
    if (!p) return fail("producer", err);
    for (int i = 0; i < COUNT; i++) {
        uint8_t *value = NULL;
        size_t len = 0;
        if (fk_serde_encode_json(reg, id, PAYMENTS[i], NULL, "payments", 0, &value, &len, err, sizeof err) != FK_OK)
            return fail("encode", err);
        printf("encoded   %s as %zu bytes\n", PAYMENTS[i], len);
        rc = fk_produce(p, "payments", 0, NULL, 0, value, len, NULL, 0, 0, NULL, err, sizeof err);
        fk_free(value); /* fk_produce copied it */
        if (rc != FK_OK) return fail("produce", err);
    }
    if (fk_flush(p, 30000) != FK_OK) return fail("flush", fk_last_error());
    fk_producer_destroy(p);

    /* A document the schema refuses: FK_ERR__VALUE_SERIALIZATION, naming the field. */
    uint8_t *bad = NULL;
    size_t bad_len = 0;
    rc = fk_serde_encode_json(reg, id, "{\"id\":\"p-4\",\"amount\":\"lots\"}", NULL, "payments", 0, &bad, &bad_len, err, sizeof err);
    printf("refused   %s (%d): %s\n", fk_err2str(rc), rc, err);

    if (fk_conf_set(conf, "group.id", "payments-readers", err, sizeof err) != FK_OK ||
        fk_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err) != FK_OK)
        return fail("config", err);
    fk_consumer_t *c = fk_consumer_new(conf, err, sizeof err);
    fk_conf_destroy(conf);
    if (!c) return fail("consumer", err);
    const char *topics[] = { "payments" };
    if (fk_subscribe(c, topics, 1, err, sizeof err) != FK_OK) return fail("subscribe", err);
    int read = 0, idle = 0;
    while (read < COUNT && idle < 30) {
        fk_message_t *m = fk_consumer_poll(c, 1000);
        if (!m) { idle++; continue; }
        if (fk_message_error(m) == FK_OK) {
            size_t len = 0;
            const uint8_t *value = fk_message_value(m, &len);
            char *json = NULL;
            int32_t schema_id = 0;
            if (fk_serde_decode_json(reg, value, len, "payments", 0, &json, &schema_id, err, sizeof err) != FK_OK)
                return fail("decode", err);
            printf("decoded   offset %lld, schema %d: %s\n", (long long)fk_message_offset(m), schema_id, json);
            fk_free(json);
            read++;
        }
        fk_message_destroy(m);
    }
    fk_consumer_close(c, err, sizeof err);
    fk_consumer_destroy(c);
    fk_schema_registry_destroy(reg);
    if (fk_broker_stop(broker) != FK_OK) return fail("broker stop", fk_last_error());
    printf("done      %d payments read back\n", read);
    return read == COUNT && rc == FK_ERR__VALUE_SERIALIZATION ? 0 : 1;
}
