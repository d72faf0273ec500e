/* Exactly-once consume-transform-produce through libferrokafka: reads INPUT through a consumer
 * group, writes each record's value prefixed with "copy:" to OUTPUT (same partition, same key),
 * and commits the consumed offsets in the same transaction as the records written, so a
 * read_committed reader of OUTPUT sees every input record exactly once even when this process
 * is killed at any point and started again. It stops once the group's committed offsets cover
 * TOTAL input records (the input's offsets are dense: written without transactions).
 *
 *   eos_copy BOOTSTRAP INPUT OUTPUT TOTAL
 *
 * A restarted instance picks up where the last commit left: its fk_init_transactions aborts
 * the open transaction of the instance it replaces (same transactional.id), and its consumer
 * replaces the old member at once (same group.instance.id) and starts at the committed
 * offsets. bindings-c/tests/c/test_eos.c kills it with SIGKILL in the middle and restarts it.
 *
 *   cc examples/c/eos_copy.c $(pkg-config --cflags --libs ferrokafka) -o eos_copy
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ferrokafka.h>

#define BATCH 100      /* records per transaction, at most */
#define TIMEOUT 30000  /* ms, for each transactional call */
#define MAX_PARTITIONS 64

static const char *input;
static int assigned[MAX_PARTITIONS], assigned_count;

/* The assignment, kept for fk_position; run by fk_consumer_poll on this thread. */
static void on_rebalance(fk_consumer_t *c, int event, const fk_topic_partition_t *parts, size_t count, void *opaque) {
    (void)c;
    (void)opaque;
    for (size_t i = 0; i < count; i++) {
        int p = parts[i].partition, at = -1;
        for (int j = 0; j < assigned_count; j++)
            if (assigned[j] == p) at = j;
        if (event == FK_REBALANCE_ASSIGN && at < 0 && assigned_count < MAX_PARTITIONS) assigned[assigned_count++] = p;
        if (event != FK_REBALANCE_ASSIGN && at >= 0) assigned[at] = assigned[--assigned_count];
    }
}

static void die(const char *what, const char *why) {
    fprintf(stderr, "eos_copy: %s: %s\n", what, why);
    exit(1);
}

static void set(fk_conf_t *conf, const char *key, const char *value) {
    char err[512];
    if (fk_conf_set(conf, key, value, err, sizeof err) != FK_OK) die("config", err);
}

/* The consumer's position on every assigned partition, into `parts`; returns the number of
 * input records consumed up to there, or -1 while a position is not known yet. */
static long long positions(fk_consumer_t *c, fk_topic_partition_t *parts) {
    for (int i = 0; i < assigned_count; i++) parts[i] = (fk_topic_partition_t){ input, assigned[i], 0, 0 };
    if (fk_position(c, parts, (size_t)assigned_count) != FK_OK) die("position", fk_last_error());
    long long sum = 0;
    for (int i = 0; i < assigned_count; i++) {
        if (parts[i].offset < 0) return -1;
        sum += parts[i].offset;
    }
    return sum;
}

/* After an aborted transaction, reads again from the last committed offsets. */
static void rewind_to_committed(fk_consumer_t *c) {
    char err[512];
    fk_topic_partition_t parts[MAX_PARTITIONS];
    for (int i = 0; i < assigned_count; i++) parts[i] = (fk_topic_partition_t){ input, assigned[i], 0, 0 };
    if (fk_committed(c, parts, (size_t)assigned_count, err, sizeof err) != FK_OK) die("committed", err);
    for (int i = 0; i < assigned_count; i++) {
        long long at = parts[i].offset == FK_OFFSET_INVALID ? FK_OFFSET_BEGINNING : parts[i].offset;
        if (fk_seek(c, input, parts[i].partition, at, err, sizeof err) != FK_OK) die("seek", err);
    }
}

int main(int argc, char **argv) {
    char err[512], name[256];
    if (argc != 5) die("usage", "eos_copy BOOTSTRAP INPUT OUTPUT TOTAL");
    const char *bootstrap = argv[1], *output = argv[3];
    input = argv[2];
    long long total = atoll(argv[4]);
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines reach a pipe as they are written */

    fk_conf_t *conf = fk_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    snprintf(name, sizeof name, "eos-copy-%s-0", input); /* one id per instance, kept across restarts */
    set(conf, "transactional.id", name);
    fk_producer_t *p = fk_producer_new(conf, NULL, NULL, err, sizeof err);
    if (!p) die("producer", err);
    if (fk_init_transactions(p, TIMEOUT, err, sizeof err) != FK_OK) die("init_transactions", err);

    /* isolation.level is read_committed by default: the input may be another job's output. */
    set(conf, "group.instance.id", name);
    snprintf(name, sizeof name, "eos-copy-%s", input);
    set(conf, "group.id", name);
    set(conf, "enable.auto.commit", "false"); /* offsets are committed by the transactions */
    set(conf, "auto.offset.reset", "earliest");
    fk_consumer_t *c = fk_consumer_new(conf, err, sizeof err);
    fk_conf_destroy(conf);
    if (!c) die("consumer", err);
    fk_consumer_set_rebalance_cb(c, on_rebalance, NULL);
    if (fk_subscribe(c, &input, 1, err, sizeof err) != FK_OK) die("subscribe", err);

    long long done = 0;
    for (int txn = 1; done < total; txn++) {
        if (fk_begin_transaction(p, err, sizeof err) != FK_OK) die("begin_transaction", err);
        int n = 0;
        while (n < BATCH) {
            fk_message_t *m = fk_consumer_poll(c, n == 0 ? 1000 : 100);
            if (!m) break; /* nothing more for now: commit what this transaction holds */
            if (fk_message_error(m) != FK_OK) {
                fprintf(stderr, "eos_copy: consumer: %s\n", fk_message_errstr(m));
                fk_message_destroy(m);
                continue;
            }
            size_t klen = 0, vlen = 0;
            const char *key = fk_message_key(m, &klen), *value = fk_message_value(m, &vlen);
            char copy[1024];
            int len = snprintf(copy, sizeof copy, "copy:%.*s", (int)vlen, value ? value : "");
            fk_resp_err_t rc;
            while ((rc = fk_produce(p, output, fk_message_partition(m), key, klen, copy, (size_t)len, NULL, 0, 0, NULL, err,
                                    sizeof err)) == FK_ERR__QUEUE_FULL)
                fk_poll(p, 100);
            if (rc != FK_OK) die("produce", err);
            fk_message_destroy(m);
            n++;
        }
        /* Everything this transaction wrote is in the log now, not yet committed: a kill from
         * here to the commit leaves records that read_committed readers must never see. */
        if (fk_flush(p, TIMEOUT) != FK_OK) die("flush", fk_last_error());
        printf("sent      %d records in transaction %d, not committed yet\n", n, txn);

        fk_topic_partition_t parts[MAX_PARTITIONS];
        long long consumed = positions(c, parts);
        fk_consumer_group_metadata_t *group = fk_consumer_group_metadata(c);
        if (!group) die("group metadata", fk_last_error());
        fk_resp_err_t rc = fk_send_offsets_to_transaction(p, parts, (size_t)assigned_count, group, TIMEOUT, err, sizeof err);
        fk_consumer_group_metadata_destroy(group);
        if (rc == FK_OK) {
            while ((rc = fk_commit_transaction(p, TIMEOUT, err, sizeof err)) != FK_OK && fk_last_error_is_retriable())
                fprintf(stderr, "eos_copy: commit: %s; again\n", err);
        }
        if (rc != FK_OK) {
            if (fk_last_error_is_fatal()) die("fatal", err); /* fenced: another instance took over */
            fprintf(stderr, "eos_copy: transaction %d failed (%s); aborting it\n", txn, err);
            if (fk_abort_transaction(p, TIMEOUT, err, sizeof err) != FK_OK) die("abort_transaction", err);
            rewind_to_committed(c);
            continue;
        }
        if (consumed >= 0) done = consumed;
        printf("committed %lld of %lld input records\n", done, total);
    }

    if (fk_consumer_close(c, err, sizeof err) != FK_OK) die("close", err);
    fk_consumer_destroy(c);
    fk_producer_destroy(p);
    printf("done      %lld records copied exactly once\n", done);
    return 0;
}
