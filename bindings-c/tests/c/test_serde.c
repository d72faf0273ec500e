/* The Schema Registry and serializers from C, against the registry of the bundled broker
 * started through the library: settings errors, register (Avro, JSON Schema, Protobuf; the
 * same schema twice is the same id), latest, schema by id, JSON text encoded under each
 * schema's id and decoded back, schema violations as FK_ERR__VALUE_SERIALIZATION or
 * FK_ERR__KEY_SERIALIZATION naming the field, bytes that do not decode, an unknown schema
 * id, framing helpers, one handle used from several threads at once, NULL handles and fk_free.
 * Exits non-zero on the first failed check. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferrokafka.h"

#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); exit(1); } } while (0)

static const char *AVRO_USER =
    "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"example\",\"fields\":["
    "{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"age\",\"type\":\"int\"},"
    "{\"name\":\"email\",\"type\":[\"null\",\"string\"],\"default\":null}]}";

static const char *JSON_ORDER =
    "{\"type\":\"object\",\"properties\":{"
    "\"id\":{\"type\":\"integer\"},"
    "\"items\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"
    "\"required\":[\"id\"]}";

static const char *PROTO_POINT =
    "syntax = \"proto3\";\npackage geo;\nmessage Point { int32 x = 1; int32 y = 2; }\n"
    "message Line { Point from = 1; Point to = 2; }\n";

/* Encodes `json` under `id`, decodes it back, and checks the decoded text is `want`. */
static void round_trip(fk_schema_registry_t *reg, int32_t id, const char *json, const char *message,
                       const char *want) {
    char err[512];
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = fk_serde_encode_json(reg, id, json, message, "serde-c", 0, &bytes, &len, err, sizeof err);
    CHECK(rc == FK_OK, "encode %s under %d: %s", json, id, err);
    CHECK(len > 5 && bytes[0] == 0, "framed: %zu bytes, magic %d", len, bytes[0]);
    int32_t framed_id = -1;
    size_t offset = 0;
    CHECK(fk_serde_unframe(bytes, len, &framed_id, &offset, err, sizeof err) == FK_OK, "%s", err);
    CHECK(framed_id == id && offset == 5, "frame holds id %d (want %d), payload at %zu", framed_id, id, offset);
    char *decoded = NULL;
    int32_t decoded_id = -1;
    rc = fk_serde_decode_json(reg, bytes, len, "serde-c", 0, &decoded, &decoded_id, err, sizeof err);
    CHECK(rc == FK_OK, "decode: %s", err);
    CHECK(decoded_id == id, "decoded id %d", decoded_id);
    CHECK(strcmp(decoded, want) == 0, "decoded %s, want %s", decoded, want);
    fk_free(decoded);
    fk_free(bytes);
}

/* Encoding `json` under `id` fails with `code`, and the message names `field`. */
static void refused(fk_schema_registry_t *reg, int32_t id, const char *json, int is_key, int code, const char *field) {
    char err[512];
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = fk_serde_encode_json(reg, id, json, NULL, "serde-c", is_key, &bytes, &len, err, sizeof err);
    CHECK(rc == code, "encode %s: %d (want %d): %s", json, rc, code, err);
    CHECK(strstr(err, field) != NULL, "the message names %s: %s", field, err);
    CHECK(fk_last_error_code() == code && strcmp(fk_last_error(), err) == 0, "last error: %s", fk_last_error());
    CHECK(bytes == NULL && len == 0, "nothing written on failure");
    printf("refused %s: %s\n", json, err);
}

/* One registry handle, several threads encoding and decoding at once. */
#define THREADS 4
#define ROUNDS 50
struct worker { fk_schema_registry_t *reg; int32_t id; int n; int ok; };

static void *encode_decode(void *arg) {
    struct worker *w = arg;
    char err[512], json[128], want[128];
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(json, sizeof json, "{\"name\":\"t%d\",\"age\":%d}", w->n, i);
        snprintf(want, sizeof want, "{\"age\":%d,\"email\":null,\"name\":\"t%d\"}", i, w->n);
        uint8_t *bytes = NULL;
        size_t len = 0;
        char *back = NULL;
        if (fk_serde_encode_json(w->reg, w->id, json, NULL, "serde-c", 0, &bytes, &len, err, sizeof err) != FK_OK ||
            fk_serde_decode_json(w->reg, bytes, len, "serde-c", 0, &back, NULL, err, sizeof err) != FK_OK) {
            printf("thread %d: %s\n", w->n, err);
            fk_free(bytes);
            return NULL;
        }
        int same = strcmp(back, want) == 0;
        fk_free(back);
        fk_free(bytes);
        if (!same) return NULL;
    }
    w->ok = 1;
    return NULL;
}

int main(int argc, char **argv) {
    char err[512];
    CHECK(argc == 2, "usage: test_serde DATA_DIR");

    fk_broker_t *broker = fk_broker_start(argv[1], NULL, err, sizeof err);
    CHECK(broker != NULL, "broker start: %s", err);
    const char *url = fk_broker_schema_registry_url(broker);
    CHECK(url != NULL && strncmp(url, "http://", 7) == 0, "the broker serves a registry: %s", url ? url : "NULL");

    /* Settings: an unknown key, no url, a bad number. */
    const char *unknown[] = { "url", url, "timeout.mss", "5", NULL };
    CHECK(fk_schema_registry_new(unknown, err, sizeof err) == NULL, "unknown key refused");
    CHECK(fk_last_error_code() == FK_ERR__INVALID_ARG && strstr(err, "timeout.mss") != NULL, "names the key: %s", err);
    CHECK(fk_schema_registry_new(NULL, err, sizeof err) == NULL && strstr(err, "url") != NULL, "url required: %s", err);
    const char *bad[] = { "url", url, "timeout.ms", "soon", NULL };
    CHECK(fk_schema_registry_new(bad, NULL, 0) == NULL && strstr(fk_last_error(), "timeout.ms") != NULL, "%s", fk_last_error());
    const char *odd[] = { "url", NULL };
    CHECK(fk_schema_registry_new(odd, err, sizeof err) == NULL && strstr(err, "url") != NULL, "a key without value: %s", err);

    const char *settings[] = { "url", url, "timeout.ms", "10000", NULL };
    fk_schema_registry_t *reg = fk_schema_registry_new(settings, err, sizeof err);
    CHECK(reg != NULL, "%s", err);

    /* Register: Avro (NULL type), the same again, JSON Schema, Protobuf; a bad type and a bad schema. */
    int32_t avro_id = -1, again = -1, json_id = -1, proto_id = -1;
    CHECK(fk_schema_registry_register(reg, "serde-c-value", NULL, AVRO_USER, &avro_id, err, sizeof err) == FK_OK, "%s", err);
    CHECK(avro_id > 0, "avro id %d", avro_id);
    CHECK(fk_schema_registry_register(reg, "serde-c-value", "avro", AVRO_USER, &again, err, sizeof err) == FK_OK, "%s", err);
    CHECK(again == avro_id, "the same schema is the same id: %d, %d", again, avro_id);
    CHECK(fk_schema_registry_register(reg, "serde-c-json-value", "JSON", JSON_ORDER, &json_id, err, sizeof err) == FK_OK, "%s", err);
    CHECK(fk_schema_registry_register(reg, "serde-c-proto-value", "PROTOBUF", PROTO_POINT, &proto_id, err, sizeof err) == FK_OK, "%s", err);
    CHECK(json_id > 0 && proto_id > 0 && json_id != avro_id && proto_id != json_id, "ids %d %d %d", avro_id, json_id, proto_id);
    CHECK(fk_schema_registry_register(reg, "s", "XML", "<a/>", NULL, err, sizeof err) == FK_ERR__INVALID_ARG, "bad type");
    CHECK(strstr(err, "XML") != NULL, "%s", err);
    CHECK(fk_schema_registry_register(reg, "s", "AVRO", "{\"type\":\"recrd\"}", NULL, err, sizeof err) != FK_OK, "a bad schema");
    CHECK(fk_last_error_registry_code() == 42201, "an invalid schema: %d", fk_last_error_registry_code());
    printf("a bad schema: %s\n", err);

    /* Latest and schema by id. */
    int32_t latest_id = -1, version = -1;
    CHECK(fk_schema_registry_latest(reg, "serde-c-value", &latest_id, &version, err, sizeof err) == FK_OK, "%s", err);
    CHECK(latest_id == avro_id && version == 1, "latest: id %d version %d", latest_id, version);
    CHECK(fk_schema_registry_latest(reg, "no-such-subject", NULL, NULL, err, sizeof err) != FK_OK, "unknown subject");
    CHECK(strstr(err, "40401") != NULL, "the registry's code: %s", err);
    CHECK(fk_last_error_registry_code() == 40401, "fk_last_error_registry_code: %d", fk_last_error_registry_code());
    char *text = NULL;
    const char *type = NULL;
    CHECK(fk_schema_registry_schema(reg, json_id, &text, &type, err, sizeof err) == FK_OK, "%s", err);
    CHECK(strcmp(type, "JSON") == 0 && strstr(text, "\"items\"") != NULL, "%s: %s", type, text);
    fk_free(text);
    CHECK(fk_schema_registry_schema(reg, avro_id, NULL, &type, err, sizeof err) == FK_OK && strcmp(type, "AVRO") == 0, "%s", err);
    CHECK(fk_schema_registry_schema(reg, 99999, &text, NULL, err, sizeof err) != FK_OK && strstr(err, "40403") != NULL, "%s", err);
    CHECK(fk_last_error_registry_code() == 40403, "fk_last_error_registry_code: %d", fk_last_error_registry_code());

    /* JSON text encoded under each type and decoded back. */
    round_trip(reg, avro_id, "{\"name\":\"ann\",\"age\":42}", NULL, "{\"age\":42,\"email\":null,\"name\":\"ann\"}");
    round_trip(reg, avro_id, "{\"name\":\"bob\",\"age\":-7,\"email\":\"b@x\"}", NULL,
               "{\"age\":-7,\"email\":\"b@x\",\"name\":\"bob\"}");
    round_trip(reg, json_id, "{\"id\":7,\"items\":[\"a\",\"b\"]}", NULL, "{\"id\":7,\"items\":[\"a\",\"b\"]}");
    round_trip(reg, proto_id, "{\"x\":1,\"y\":2}", NULL, "{\"x\":1,\"y\":2}");
    round_trip(reg, proto_id, "{\"from\":{\"x\":1},\"to\":{\"y\":5}}", "Line", "{\"from\":{\"x\":1},\"to\":{\"y\":5}}");
    round_trip(reg, proto_id, "{\"from\":{\"x\":3}}", "geo.Line", "{\"from\":{\"x\":3}}");

    /* Threads sharing the handle. */
    struct worker workers[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){ reg, avro_id, i, 0 };
        CHECK(pthread_create(&threads[i], NULL, encode_decode, &workers[i]) == 0, "thread");
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(workers[i].ok, "thread %d encoded and decoded %d records", i, ROUNDS);
    }

    /* Schema violations: the serializer's code, a message naming the field. */
    refused(reg, avro_id, "{\"name\":\"ann\",\"age\":\"old\"}", 0, FK_ERR__VALUE_SERIALIZATION, "age");
    CHECK(fk_last_error_registry_code() == -1, "not the registry's answer");
    refused(reg, avro_id, "{\"name\":\"ann\"}", 1, FK_ERR__KEY_SERIALIZATION, "age");
    refused(reg, json_id, "{\"id\":\"x\"}", 0, FK_ERR__VALUE_SERIALIZATION, "id");
    refused(reg, json_id, "{\"items\":[]}", 0, FK_ERR__VALUE_SERIALIZATION, "id");
    refused(reg, avro_id, "{not json", 0, FK_ERR__VALUE_SERIALIZATION, "not JSON");
    uint8_t *out = NULL;
    size_t out_len = 0;
    CHECK(fk_serde_encode_json(reg, proto_id, "{}", "Circle", "serde-c", 0, &out, &out_len, err, sizeof err) == FK_ERR__VALUE_SERIALIZATION, "%s", err);
    CHECK(strstr(err, "Circle") != NULL, "an unknown message is named: %s", err);
    CHECK(fk_serde_encode_json(reg, 99999, "{}", NULL, "serde-c", 0, &out, &out_len, err, sizeof err) != FK_OK, "unknown id");
    CHECK(strstr(err, "40403") != NULL, "the registry's code: %s", err);

    /* Bytes that do not decode: the deserializer's code. */
    char *json = NULL;
    const uint8_t garbage[] = { 1, 2, 3 };
    CHECK(fk_serde_decode_json(reg, garbage, sizeof garbage, "serde-c", 0, &json, NULL, err, sizeof err) == FK_ERR__VALUE_DESERIALIZATION, "%s", err);
    CHECK(strstr(err, "magic byte") != NULL, "%s", err);
    CHECK(fk_serde_decode_json(reg, garbage, 0, "serde-c", 1, &json, NULL, err, sizeof err) == FK_ERR__KEY_DESERIALIZATION, "%s", err);
    uint8_t *framed = NULL;
    size_t framed_len = 0;
    const uint8_t cut[] = { 0x06, 'a' };   /* a string of 3 bytes, cut after one */
    CHECK(fk_serde_frame(avro_id, cut, sizeof cut, &framed, &framed_len, err, sizeof err) == FK_OK, "%s", err);
    CHECK(fk_serde_decode_json(reg, framed, framed_len, "serde-c", 0, &json, NULL, err, sizeof err) == FK_ERR__VALUE_DESERIALIZATION, "%s", err);
    CHECK(json == NULL, "nothing written on failure");
    fk_free(framed);

    /* Framing helpers. */
    CHECK(fk_serde_frame(258, (const uint8_t *)"abc", 3, &framed, &framed_len, err, sizeof err) == FK_OK, "%s", err);
    const uint8_t want[] = { 0, 0, 0, 1, 2, 'a', 'b', 'c' };
    CHECK(framed_len == sizeof want && memcmp(framed, want, sizeof want) == 0, "framed %zu bytes", framed_len);
    int32_t id = 0;
    size_t offset = 0;
    CHECK(fk_serde_unframe(framed, framed_len, &id, &offset, err, sizeof err) == FK_OK && id == 258 && offset == 5, "%s", err);
    fk_free(framed);
    CHECK(fk_serde_frame(-1, NULL, 0, &framed, &framed_len, err, sizeof err) == FK_OK && framed_len == 5, "%s", err);
    CHECK(fk_serde_unframe(framed, framed_len, &id, &offset, err, sizeof err) == FK_OK && id == -1 && offset == 5, "%s", err);
    fk_free(framed);
    const uint8_t not_framed[] = { 1, 0, 0, 0, 1 };
    CHECK(fk_serde_unframe(not_framed, sizeof not_framed, &id, &offset, err, sizeof err) == FK_ERR__INVALID_ARG, "%s", err);
    CHECK(strstr(err, "magic byte 1") != NULL, "%s", err);
    CHECK(fk_serde_unframe(want, 3, &id, NULL, err, sizeof err) == FK_ERR__INVALID_ARG && strstr(err, "short") != NULL, "%s", err);
    CHECK(fk_serde_frame(1, NULL, 4, &framed, &framed_len, err, sizeof err) == FK_ERR__INVALID_ARG, "NULL payload with a length");

    /* NULL handles and arguments. */
    CHECK(fk_schema_registry_register(NULL, "s", NULL, AVRO_USER, NULL, err, sizeof err) == FK_ERR__INVALID_ARG, "NULL reg");
    CHECK(strstr(err, "NULL") != NULL, "%s", err);
    CHECK(fk_schema_registry_latest(reg, NULL, NULL, NULL, err, sizeof err) == FK_ERR__INVALID_ARG, "NULL subject");
    CHECK(fk_serde_encode_json(reg, avro_id, NULL, NULL, "t", 0, &out, &out_len, err, sizeof err) == FK_ERR__INVALID_ARG, "NULL json");
    CHECK(fk_serde_encode_json(reg, avro_id, "{}", NULL, "t", 0, NULL, &out_len, err, sizeof err) == FK_ERR__INVALID_ARG, "NULL out");
    CHECK(fk_serde_decode_json(NULL, want, sizeof want, "t", 0, &json, NULL, err, sizeof err) == FK_ERR__INVALID_ARG, "NULL reg");
    fk_schema_registry_destroy(NULL);
    fk_free(NULL);

    fk_schema_registry_destroy(reg);
    CHECK(fk_broker_stop(broker) == FK_OK, "broker stop");
    printf("all checks passed\n");
    return 0;
}
