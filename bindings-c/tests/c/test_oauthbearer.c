/* SASL OAUTHBEARER through the C API: a broker started with fk_broker_start_with on a
 * SASL_PLAINTEXT listener that takes unsecured JWTs; a token callback that builds one (it is
 * asked on each authentication); admin, produce and consume through it; a callback that
 * refuses fails the connection with FK_ERR__AUTHENTICATION naming its reason. Exits non-zero
 * on the first failed check. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferrokafka.h"

#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); exit(1); } } while (0)

/* base64url without padding, as JWTs use. */
static void b64url(const char *in, char *out) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n) v |= (uint32_t)(unsigned char)in[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        if (i + 1 < n) out[o++] = abc[(v >> 6) & 63];
        if (i + 2 < n) out[o++] = abc[v & 63];
    }
    out[o] = '\0';
}

struct provider { int asked; };

static int good_token(void *opaque, char *token, size_t token_size, char *errstr, size_t errstr_size) {
    (void)errstr; (void)errstr_size;
    struct provider *p = opaque;
    p->asked++;
    char payload[128], header[64], body[256];
    long now = (long)time(NULL);
    snprintf(payload, sizeof payload, "{\"sub\":\"alice\",\"iat\":%ld,\"exp\":%ld}", now, now + 3600);
    b64url("{\"alg\":\"none\"}", header);
    b64url(payload, body);
    int n = snprintf(token, token_size, "%s.%s.", header, body);
    return n > 0 && (size_t)n < token_size ? 0 : 1;
}

static int refusing_token(void *opaque, char *token, size_t token_size, char *errstr, size_t errstr_size) {
    (void)opaque; (void)token; (void)token_size;
    snprintf(errstr, errstr_size, "identity provider unreachable");
    return 1;
}

static fk_conf_t *sasl_conf(const char *bootstrap, fk_oauthbearer_token_cb cb, void *opaque) {
    char err[256];
    fk_conf_t *conf = fk_conf_new();
    CHECK(fk_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) == FK_OK, "%s", err);
    CHECK(fk_conf_set(conf, "security.protocol", "SASL_PLAINTEXT", err, sizeof err) == FK_OK, "%s", err);
    CHECK(fk_conf_set(conf, "sasl.mechanism", "OAUTHBEARER", err, sizeof err) == FK_OK, "%s", err);
    CHECK(fk_conf_set_oauthbearer_token_cb(conf, cb, opaque) == FK_OK, "set callback: %s", fk_last_error());
    return conf;
}

int main(int argc, char **argv) {
    char err[512];
    CHECK(argc == 2, "usage: test_oauthbearer DATA_DIR");

    const char *bad_settings[] = { "no.such.setting", "1", NULL };
    CHECK(fk_broker_start_with(argv[1], bad_settings, err, sizeof err) == NULL, "an unknown broker setting is refused");
    CHECK(strstr(err, "no.such.setting") != NULL, "and named: %s", err);
    const char *odd_settings[] = { "listeners", NULL };
    CHECK(fk_broker_start_with(argv[1], odd_settings, err, sizeof err) == NULL && strstr(err, "listeners") != NULL,
          "a key without a value is refused, naming it: %s", err);

    const char *settings[] = {
        "listeners", "SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms", "OAUTHBEARER",
        NULL,
    };
    fk_broker_t *broker = fk_broker_start_with(argv[1], settings, err, sizeof err);
    CHECK(broker != NULL, "broker start: %s", err);
    const char *bootstrap = fk_broker_bootstrap(broker);

    CHECK(fk_conf_set_oauthbearer_token_cb(NULL, good_token, NULL) == FK_ERR__INVALID_ARG, "NULL conf");
    fk_conf_t *empty = fk_conf_new();
    CHECK(fk_conf_set_oauthbearer_token_cb(empty, NULL, NULL) == FK_ERR__INVALID_ARG, "NULL callback");
    fk_conf_destroy(empty);

    struct provider provider = { 0 };
    fk_conf_t *conf = sasl_conf(bootstrap, good_token, &provider);
    fk_admin_t *admin = fk_admin_new(conf, err, sizeof err);
    CHECK(admin != NULL, "admin: %s", err);
    CHECK(fk_admin_create_topic(admin, "oauth", 1, -1, err, sizeof err) == FK_OK, "create over OAUTHBEARER: %s", err);
    CHECK(provider.asked >= 1, "the callback was asked for a token");

    fk_producer_t *p = fk_producer_new(conf, NULL, NULL, err, sizeof err);
    CHECK(p != NULL, "producer: %s", err);
    CHECK(fk_produce(p, "oauth", 0, NULL, 0, "hello", 5, NULL, 0, 0, NULL, err, sizeof err) == FK_OK, "%s", err);
    CHECK(fk_flush(p, 10000) == FK_OK, "flush: %s", fk_last_error());
    fk_producer_destroy(p);

    fk_consumer_t *c = fk_consumer_new(conf, err, sizeof err);
    CHECK(c != NULL, "consumer: %s", err);
    fk_topic_partition_t tp = { "oauth", 0, FK_OFFSET_BEGINNING, 0 };
    CHECK(fk_assign(c, &tp, 1, err, sizeof err) == FK_OK, "assign: %s", err);
    fk_message_t *m = fk_consumer_poll(c, 10000);
    CHECK(m != NULL && fk_message_error(m) == FK_OK, "a record: %s", m ? fk_message_errstr(m) : "none");
    size_t len = 0;
    const void *value = fk_message_value(m, &len);
    CHECK(len == 5 && memcmp(value, "hello", 5) == 0, "the record read back over OAUTHBEARER");
    fk_message_destroy(m);
    fk_consumer_destroy(c);
    fk_conf_destroy(conf);
    int asked = provider.asked;
    CHECK(asked >= 2, "each connection authenticated with a token of its own: %d", asked);

    fk_conf_t *refused = sasl_conf(bootstrap, refusing_token, NULL);
    fk_admin_t *refused_admin = fk_admin_new(refused, err, sizeof err);
    CHECK(refused_admin != NULL, "admin: %s", err);
    fk_topic_list_t *topics = NULL;
    int rc = fk_admin_list_topics(refused_admin, &topics, err, sizeof err);
    CHECK(rc == FK_ERR__AUTHENTICATION, "a refusing callback fails authentication: %d %s", rc, err);
    CHECK(strstr(err, "identity provider unreachable") != NULL, "naming the callback's reason: %s", err);
    fk_admin_destroy(refused_admin);
    fk_conf_destroy(refused);

    fk_admin_destroy(admin);
    CHECK(fk_broker_stop(broker) == FK_OK, "stop: %s", fk_last_error());
    printf("all checks passed\n");
    return 0;
}
