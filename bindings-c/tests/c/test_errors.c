/* Errors through the C API: configuration errors name the key, every function given a NULL
 * handle, errstr truncation, the thread's last error, fk_err2str, a full producer queue, an
 * oversized record, an unknown partition, a delivery failure reported to the callback, admin
 * errors, a closed consumer, a broker that cannot start, and use after fork(). Exits non-zero
 * on the first failed check. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferrokafka.h"

#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); exit(1); } } while (0)
#define EXPECT_ERR(call, code) do { fk_resp_err_t rc_ = (call); CHECK(rc_ == (code), "%s: %d (%s), expected %d", #call, rc_, fk_last_error(), (code)); } while (0)

static int delivered, failed;
static fk_resp_err_t last_failure;

static void on_delivery(const fk_message_t *m, void *opaque) {
    (void)opaque;
    if (fk_message_error(m) == FK_OK) { delivered++; return; }
    failed++;
    last_failure = fk_message_error(m);
    CHECK(strlen(fk_message_errstr(m)) > 0, "a failed delivery says why");
    CHECK(strcmp(fk_message_topic(m), "gone") == 0, "and for which topic: %s", fk_message_topic(m));
    CHECK(fk_message_opaque(m) == (void *)(intptr_t)42, "with the record's opaque");
}

static fk_conf_t *conf_with(const char *bootstrap, const char *k1, const char *v1, const char *k2, const char *v2) {
    char err[256];
    fk_conf_t *conf = fk_conf_new();
    CHECK(conf != NULL, "fk_conf_new");
    CHECK(fk_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) == FK_OK, "%s", err);
    if (k1) CHECK(fk_conf_set(conf, k1, v1, err, sizeof err) == FK_OK, "%s", err);
    if (k2) CHECK(fk_conf_set(conf, k2, v2, err, sizeof err) == FK_OK, "%s", err);
    return conf;
}

static void null_handles(void) {
    char err[256];
    fk_topic_partition_t tp = { "t", 0, 0, 0 };
    const char *topics[] = { "t" };

    EXPECT_ERR(fk_conf_set(NULL, "acks", "1", err, sizeof err), FK_ERR__INVALID_ARG);
    CHECK(strstr(err, "NULL") != NULL, "names what was NULL: %s", err);
    fk_conf_t *conf = fk_conf_new();
    EXPECT_ERR(fk_conf_set(conf, NULL, "1", err, sizeof err), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_conf_set(conf, "acks", NULL, err, sizeof err), FK_ERR__INVALID_ARG);
    CHECK(strstr(err, "acks") != NULL, "a NULL value names its key: %s", err);
    fk_conf_destroy(conf);

    /* Constructors: NULL, with the reason in errstr and in the thread's last error. */
    CHECK(fk_producer_new(NULL, NULL, NULL, err, sizeof err) == NULL, "producer without conf");
    CHECK(fk_last_error_code() == FK_ERR__INVALID_ARG && strcmp(fk_last_error(), err) == 0, "last error: %s", fk_last_error());
    CHECK(fk_consumer_new(NULL, NULL, 0) == NULL && fk_last_error_code() == FK_ERR__INVALID_ARG, "consumer without conf");
    CHECK(fk_admin_new(NULL, NULL, 0) == NULL && fk_last_error_code() == FK_ERR__INVALID_ARG, "admin without conf");
    CHECK(fk_broker_start(NULL, NULL, err, sizeof err) == NULL && strstr(err, "data_dir") != NULL, "broker without data_dir: %s", err);

    /* Producer. */
    EXPECT_ERR(fk_produce(NULL, "t", 0, NULL, 0, "v", 1, NULL, 0, 0, NULL, err, sizeof err), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_poll(NULL, 0), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_flush(NULL, 0), FK_ERR__INVALID_ARG);
    CHECK(fk_outq_len(NULL) == 0, "outq of NULL");

    /* Consumer. */
    EXPECT_ERR(fk_consumer_set_rebalance_cb(NULL, NULL, NULL), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_subscribe(NULL, topics, 1, err, sizeof err), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_unsubscribe(NULL, err, sizeof err), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_assign(NULL, &tp, 1, err, sizeof err), FK_ERR__INVALID_ARG);
    fk_message_t *m = fk_consumer_poll(NULL, 0);
    CHECK(m != NULL && fk_message_error(m) == FK_ERR__INVALID_ARG, "polling NULL is an error message");
    CHECK(strstr(fk_message_errstr(m), "NULL") != NULL, "%s", fk_message_errstr(m));
    fk_message_destroy(m);
    EXPECT_ERR(fk_commit(NULL, NULL, 0, 0, err, sizeof err), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_committed(NULL, &tp, 1, err, sizeof err), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_position(NULL, &tp, 1), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_seek(NULL, "t", 0, 0, err, sizeof err), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_pause(NULL, &tp, 1), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_resume(NULL, &tp, 1), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_consumer_close(NULL, err, sizeof err), FK_ERR__INVALID_ARG);

    /* Admin and its topic list. */
    fk_topic_list_t *list = NULL;
    EXPECT_ERR(fk_admin_create_topic(NULL, "t", 1, -1, err, sizeof err), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_admin_delete_topic(NULL, "t", err, sizeof err), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_admin_list_topics(NULL, &list, err, sizeof err), FK_ERR__INVALID_ARG);
    CHECK(list == NULL, "no list on failure");
    CHECK(fk_topic_list_count(NULL) == 0 && fk_topic_list_name(NULL, 0) == NULL && fk_topic_list_partitions(NULL, 0) == -1, "NULL list");

    /* Message accessors. */
    size_t len = 99;
    const char *name = "unchanged";
    CHECK(fk_message_topic(NULL) == NULL && fk_message_partition(NULL) == -1 && fk_message_offset(NULL) == -1, "NULL message");
    CHECK(fk_message_timestamp(NULL) == -1 && fk_message_header_count(NULL) == 0 && fk_message_opaque(NULL) == NULL, "NULL message");
    CHECK(fk_message_key(NULL, &len) == NULL && len == 0 && fk_message_value(NULL, NULL) == NULL, "NULL message bytes");
    EXPECT_ERR(fk_message_header(NULL, 0, &name, NULL, NULL), FK_ERR__INVALID_ARG);
    CHECK(strcmp(name, "unchanged") == 0, "out-parameters untouched on error");
    EXPECT_ERR(fk_message_error(NULL), FK_ERR__INVALID_ARG);
    CHECK(strcmp(fk_message_errstr(NULL), "") == 0, "NULL message errstr");

    /* Broker, and every destructor. */
    CHECK(fk_broker_bootstrap(NULL) == NULL, "NULL broker bootstrap");
    EXPECT_ERR(fk_broker_stop(NULL), FK_OK);
    fk_conf_destroy(NULL);
    fk_producer_destroy(NULL);
    fk_consumer_destroy(NULL);
    fk_admin_destroy(NULL);
    fk_topic_list_destroy(NULL);
    fk_message_destroy(NULL);
}

static void config_errors(void) {
    char err[256], small[8];
    fk_conf_t *conf = fk_conf_new();
    EXPECT_ERR(fk_conf_set(conf, "lingr.ms", "5", err, sizeof err), FK_ERR__INVALID_ARG);
    CHECK(strstr(err, "lingr.ms") != NULL, "an unknown key is named: %s", err);
    CHECK(strcmp(fk_last_error(), err) == 0 && fk_last_error_code() == FK_ERR__INVALID_ARG, "and kept as the last error");
    EXPECT_ERR(fk_conf_set(conf, "acks", "2", err, sizeof err), FK_ERR__INVALID_ARG);
    CHECK(strstr(err, "acks") != NULL, "a bad value names its key: %s", err);
    /* errstr is truncated to its buffer, NUL included; a NULL errstr is fine. */
    memset(small, 'x', sizeof small);
    EXPECT_ERR(fk_conf_set(conf, "lingr.ms", "5", small, sizeof small), FK_ERR__INVALID_ARG);
    CHECK(strlen(small) == sizeof small - 1 && strncmp(small, fk_last_error(), sizeof small - 1) == 0, "truncated: %s", small);
    EXPECT_ERR(fk_conf_set(conf, "lingr.ms", "5", NULL, 100), FK_ERR__INVALID_ARG);
    /* Success leaves the last error alone (errno-like). */
    EXPECT_ERR(fk_conf_set(conf, "acks", "1", err, sizeof err), FK_OK);
    CHECK(strstr(fk_last_error(), "lingr.ms") != NULL, "last error kept across successes");
    /* A producer needs bootstrap.servers. */
    CHECK(fk_producer_new(conf, NULL, NULL, err, sizeof err) == NULL, "no bootstrap.servers");
    CHECK(strstr(err, "bootstrap.servers") != NULL, "names the missing key: %s", err);
    fk_conf_destroy(conf);

    CHECK(strcmp(fk_err2str(FK_ERR_TOPIC_ALREADY_EXISTS), "Broker: Topic already exists") == 0, "%s", fk_err2str(FK_ERR_TOPIC_ALREADY_EXISTS));
    CHECK(strcmp(fk_err2str(FK_ERR__QUEUE_FULL), "Local: Queue full") == 0, "%s", fk_err2str(FK_ERR__QUEUE_FULL));
    CHECK(fk_err2str(FK_ERR__QUEUE_FULL) == fk_err2str(FK_ERR__QUEUE_FULL), "err2str strings are kept");
    CHECK(strstr(fk_err2str(31999), "31999") != NULL, "%s", fk_err2str(31999));
}

static void producer_errors(const char *bootstrap, const char *data_dir) {
    char err[256];
    /* A long linger keeps records queued: the sixth of five places is refused at once. */
    fk_conf_t *conf = conf_with(bootstrap, "queue.buffering.max.messages", "5", "linger.ms", "60000");
    fk_producer_t *p = fk_producer_new(conf, on_delivery, NULL, err, sizeof err);
    CHECK(p != NULL, "%s", err);
    for (int i = 0; i < 5; i++) EXPECT_ERR(fk_produce(p, "full", 0, NULL, 0, "v", 1, NULL, 0, 0, NULL, err, sizeof err), FK_OK);
    EXPECT_ERR(fk_produce(p, "full", 0, NULL, 0, "v", 1, NULL, 0, 0, NULL, err, sizeof err), FK_ERR__QUEUE_FULL);
    CHECK(fk_outq_len(p) == 5, "five queued: %d", fk_outq_len(p));
    EXPECT_ERR(fk_flush(p, 30000), FK_OK);
    CHECK(delivered == 5 && failed == 0 && fk_outq_len(p) == 0, "flushed: %d delivered, %d failed", delivered, failed);
    EXPECT_ERR(fk_produce(p, "full", 0, NULL, 0, "v", 1, NULL, 0, 0, NULL, err, sizeof err), FK_OK);

    /* Refused before queueing: oversized, unknown partition, NULL topic. */
    size_t big_len = 2000000;
    char *big = calloc(big_len, 1);
    EXPECT_ERR(fk_produce(p, "full", 0, NULL, 0, big, big_len, NULL, 0, 0, NULL, err, sizeof err), FK_ERR_MSG_SIZE_TOO_LARGE);
    CHECK(strstr(err, "message.max.bytes") != NULL, "%s", err);
    free(big);
    EXPECT_ERR(fk_produce(p, "full", 99, NULL, 0, "v", 1, NULL, 0, 0, NULL, err, sizeof err), FK_ERR__UNKNOWN_PARTITION);
    EXPECT_ERR(fk_produce(p, NULL, 0, NULL, 0, "v", 1, NULL, 0, 0, NULL, err, sizeof err), FK_ERR__INVALID_ARG);
    fk_header_t nameless = { NULL, "v", 1 };
    EXPECT_ERR(fk_produce(p, "full", 0, NULL, 0, "v", 1, &nameless, 1, 0, NULL, err, sizeof err), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_flush(p, 30000), FK_OK);
    fk_producer_destroy(p);
    fk_conf_destroy(conf);

    /* A failed delivery reaches the callback: the only broker goes away while a record waits. */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/short-lived", data_dir);
    fk_broker_t *doomed = fk_broker_start(dir, NULL, err, sizeof err);
    CHECK(doomed != NULL, "%s", err);
    conf = conf_with(fk_broker_bootstrap(doomed), "linger.ms", "60000", "delivery.timeout.ms", "1000");
    EXPECT_ERR(fk_conf_set(conf, "request.timeout.ms", "1000", err, sizeof err), FK_OK);
    p = fk_producer_new(conf, on_delivery, NULL, err, sizeof err);
    CHECK(p != NULL, "%s", err);
    delivered = failed = 0;
    EXPECT_ERR(fk_produce(p, "gone", 0, NULL, 0, "v", 1, NULL, 0, 0, (void *)(intptr_t)42, err, sizeof err), FK_OK);
    EXPECT_ERR(fk_broker_stop(doomed), FK_OK);
    EXPECT_ERR(fk_flush(p, 30000), FK_OK);
    CHECK(delivered == 0 && failed == 1, "one failed delivery: %d delivered, %d failed", delivered, failed);
    CHECK(last_failure != FK_OK, "with its code");
    fk_producer_destroy(p);
    fk_conf_destroy(conf);
}

static void consumer_and_admin_errors(const char *bootstrap) {
    char err[256];
    fk_conf_t *conf = conf_with(bootstrap, NULL, NULL, NULL, NULL);
    fk_admin_t *admin = fk_admin_new(conf, err, sizeof err);
    CHECK(admin != NULL, "%s", err);
    EXPECT_ERR(fk_admin_create_topic(admin, "dup", 1, -1, err, sizeof err), FK_OK);
    EXPECT_ERR(fk_admin_create_topic(admin, "dup", 1, -1, err, sizeof err), FK_ERR_TOPIC_ALREADY_EXISTS);
    EXPECT_ERR(fk_admin_delete_topic(admin, "no-such-topic", err, sizeof err), FK_ERR_UNKNOWN_TOPIC_OR_PART);
    EXPECT_ERR(fk_admin_create_topic(admin, NULL, 1, -1, err, sizeof err), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_admin_list_topics(admin, NULL, err, sizeof err), FK_ERR__INVALID_ARG);
    fk_admin_destroy(admin);

    /* Without group.id there is nothing to commit to. */
    fk_consumer_t *c = fk_consumer_new(conf, err, sizeof err);
    CHECK(c != NULL, "%s", err);
    CHECK(fk_commit(c, NULL, 0, 0, err, sizeof err) != FK_OK, "commit without a group");
    fk_topic_partition_t bad = { "dup", 0, -5, 0 };
    EXPECT_ERR(fk_assign(c, &bad, 1, err, sizeof err), FK_ERR__INVALID_ARG);
    CHECK(strstr(err, "-5") != NULL, "%s", err);
    EXPECT_ERR(fk_assign(c, NULL, 1, err, sizeof err), FK_ERR__INVALID_ARG);
    EXPECT_ERR(fk_seek(c, "dup", 0, FK_OFFSET_STORED, err, sizeof err), FK_ERR__INVALID_ARG);
    const char *none[] = { NULL };
    EXPECT_ERR(fk_subscribe(c, none, 1, err, sizeof err), FK_ERR__INVALID_ARG);

    /* A closed consumer says so, and closing twice is fine. */
    EXPECT_ERR(fk_consumer_close(c, err, sizeof err), FK_OK);
    const char *topics[] = { "dup" };
    EXPECT_ERR(fk_subscribe(c, topics, 1, err, sizeof err), FK_ERR__DESTROY);
    fk_message_t *m = fk_consumer_poll(c, 0);
    CHECK(m != NULL && fk_message_error(m) == FK_ERR__DESTROY, "a closed consumer's poll");
    fk_message_destroy(m);
    EXPECT_ERR(fk_consumer_close(c, err, sizeof err), FK_OK);
    fk_consumer_destroy(c);
    fk_conf_destroy(conf);
}

static void broker_errors(const char *bootstrap, const char *data_dir) {
    char err[256], dir[512];
    snprintf(dir, sizeof dir, "%s/second", data_dir);
    CHECK(fk_broker_start(dir, bootstrap, err, sizeof err) == NULL, "a port in use");
    CHECK(strstr(err, bootstrap) != NULL && fk_last_error_code() == FK_ERR__FAIL, "says where: %s", err);
    CHECK(fk_broker_start(dir, "no port here", err, sizeof err) == NULL, "a bad address: %s", err);
}

/* After fork() the child has the library's memory but not its threads: calls that need them
 * fail instead of hanging. */
static void after_fork(void) {
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        char err[256];
        fk_conf_t *conf = fk_conf_new();
        int ok = fk_conf_set(conf, "bootstrap.servers", "127.0.0.1:9", err, sizeof err) == FK_OK;
        ok = ok && fk_producer_new(conf, NULL, NULL, err, sizeof err) == NULL && strstr(err, "fork") != NULL;
        if (!ok) printf("FAIL child after fork: %s\n", err);
        fk_conf_destroy(conf);
        fflush(stdout);
        /* End by exec: the exit status is the verdict, and a leak checker (valgrind) does not
         * count as lost what the parent's runtime threads, absent in the child, still own. */
        execl("/bin/sh", "sh", "-c", ok ? "exit 0" : "exit 1", (char *)NULL);
        _exit(2);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}

int main(int argc, char **argv) {
    char err[512];
    CHECK(argc == 2, "usage: test_errors DATA_DIR");
    null_handles();
    config_errors();

    char dir[512];
    snprintf(dir, sizeof dir, "%s/main", argv[1]);
    fk_broker_t *broker = fk_broker_start(dir, "127.0.0.1:0", err, sizeof err);
    CHECK(broker != NULL, "broker start: %s", err);
    const char *bootstrap = fk_broker_bootstrap(broker);
    producer_errors(bootstrap, argv[1]);
    consumer_and_admin_errors(bootstrap);
    broker_errors(bootstrap, argv[1]);
    after_fork();
    EXPECT_ERR(fk_broker_stop(broker), FK_OK);
    printf("test_errors: all checks passed\n");
    return 0;
}
