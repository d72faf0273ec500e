/* Fencing through the C API: two producers with one transactional.id. The newer one's
 * fk_init_transactions aborts the older one's open transaction; the older one's commit then
 * fails with FK_ERR__FENCED and fk_last_error_is_fatal, and so does everything it tries
 * afterwards; a read_committed consumer reads only the newer one's record. The fenced
 * producer's transaction is abandoned, and is destroyed without hanging. Exits non-zero on the
 * first failed check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferrokafka.h"

#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); exit(1); } } while (0)
#define T 20000 /* ms: every call's timeout */

static fk_producer_t *txn_producer(const char *bootstrap, const char *id) {
    char err[512];
    fk_conf_t *conf = fk_conf_new();
    CHECK(fk_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) == FK_OK, "%s", err);
    CHECK(fk_conf_set(conf, "transactional.id", id, err, sizeof err) == FK_OK, "%s", err);
    fk_producer_t *p = fk_producer_new(conf, NULL, NULL, err, sizeof err);
    fk_conf_destroy(conf);
    CHECK(p != NULL, "transactional producer: %s", err);
    return p;
}

static void produce(fk_producer_t *p, const char *value) {
    char err[512];
    fk_resp_err_t rc = fk_produce(p, "fence", 0, NULL, 0, value, strlen(value), NULL, 0, 0, NULL, err, sizeof err);
    CHECK(rc == FK_OK, "produce %s: %s", value, err);
}

static void expect_fatal(fk_resp_err_t rc, const char *err, const char *what) {
    CHECK(rc == FK_ERR__FENCED, "%s: %s (%s)", what, fk_err2str(rc), err);
    CHECK(fk_last_error_is_fatal() == 1 && fk_last_error_is_retriable() == 0 && fk_last_error_txn_requires_abort() == 0,
          "%s: fatal, neither retriable nor abortable", what);
    CHECK(strstr(err, "fenced") != NULL && strstr(err, "app-1") != NULL, "%s: names why and the id: %s", what, err);
}

int main(int argc, char **argv) {
    char err[512];
    CHECK(argc == 2, "usage: test_fencing DATA_DIR");
    fk_broker_t *broker = fk_broker_start(argv[1], "127.0.0.1:0", err, sizeof err);
    CHECK(broker != NULL, "broker start: %s", err);
    const char *bootstrap = fk_broker_bootstrap(broker);
    fk_conf_t *conf = fk_conf_new();
    CHECK(fk_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) == FK_OK, "%s", err);
    fk_admin_t *admin = fk_admin_new(conf, err, sizeof err);
    CHECK(admin != NULL && fk_admin_create_topic(admin, "fence", 1, -1, err, sizeof err) == FK_OK, "topic: %s", err);
    fk_admin_destroy(admin);

    fk_producer_t *old = txn_producer(bootstrap, "app-1");
    CHECK(fk_init_transactions(old, T, err, sizeof err) == FK_OK, "old init: %s", err);
    CHECK(fk_begin_transaction(old, err, sizeof err) == FK_OK, "old begin: %s", err);
    produce(old, "from-the-zombie");
    CHECK(fk_flush(old, T) == FK_OK, "the zombie's record is in the log");

    /* The new instance's init aborts the old one's open transaction and bumps the epoch. */
    fk_producer_t *newer = txn_producer(bootstrap, "app-1");
    CHECK(fk_init_transactions(newer, T, err, sizeof err) == FK_OK, "new init: %s", err);
    CHECK(fk_begin_transaction(newer, err, sizeof err) == FK_OK, "new begin: %s", err);
    produce(newer, "from-the-new-one");
    CHECK(fk_commit_transaction(newer, T, err, sizeof err) == FK_OK, "new commit: %s", err);

    expect_fatal(fk_commit_transaction(old, T, err, sizeof err), err, "the fenced producer's commit");
    /* And it stays unusable: every transactional call and every send say so. */
    expect_fatal(fk_begin_transaction(old, err, sizeof err), err, "begin after fencing");
    expect_fatal(fk_abort_transaction(old, T, err, sizeof err), err, "abort after fencing");
    expect_fatal(fk_produce(old, "fence", 0, NULL, 0, "late", 4, NULL, 0, 0, NULL, err, sizeof err), err,
                 "produce after fencing");
    /* A later success does not clear the last error's flags, an unrelated failure does. */
    CHECK(fk_conf_set(conf, "acks", "all", err, sizeof err) == FK_OK && fk_last_error_is_fatal() == 1, "errno-like");
    CHECK(fk_conf_set(conf, "no.such.key", "1", err, sizeof err) == FK_ERR__INVALID_ARG && fk_last_error_is_fatal() == 0,
          "a bad argument is not fatal");

    fk_conf_t *cconf = fk_conf_new();
    CHECK(fk_conf_set(cconf, "bootstrap.servers", bootstrap, err, sizeof err) == FK_OK, "%s", err);
    fk_consumer_t *c = fk_consumer_new(cconf, err, sizeof err);
    fk_conf_destroy(cconf);
    CHECK(c != NULL, "consumer: %s", err);
    fk_topic_partition_t part = { "fence", 0, FK_OFFSET_BEGINNING, 0 };
    CHECK(fk_assign(c, &part, 1, err, sizeof err) == FK_OK, "assign: %s", err);
    fk_message_t *m = fk_consumer_poll(c, T);
    CHECK(m && fk_message_error(m) == FK_OK, "the new one's record: %s", m ? fk_message_errstr(m) : "none");
    size_t len = 0;
    const char *v = fk_message_value(m, &len);
    CHECK(len == 16 && memcmp(v, "from-the-new-one", 16) == 0, "read_committed reads only the new one: %.*s", (int)len, v);
    fk_message_destroy(m);
    m = fk_consumer_poll(c, 300);
    CHECK(m == NULL, "and nothing of the zombie");
    fk_consumer_destroy(c);

    fk_producer_destroy(old);
    fk_producer_destroy(newer);
    fk_conf_destroy(conf);
    CHECK(fk_broker_stop(broker) == FK_OK, "broker stop: %s", fk_last_error());
    printf("all checks passed\n");
    return 0;
}
