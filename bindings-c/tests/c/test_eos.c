/* Exactly once across a crash: runs examples/c/eos_copy (its path is the second argument) as a
 * child process against the broker this process starts, SIGKILLs it in the middle of its work
 * (once it has committed a third of the input and written a transaction it has not committed),
 * starts it again, lets it finish, and checks that a read_committed reader of the output sees
 * every input record exactly once, and that the group's committed offsets are at the input's end.
 * The child's progress lines come through a pipe: no sleeps, no timing assumptions. Exits
 * non-zero on the first failed check. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferrokafka.h"

#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); fail_cleanup(); exit(1); } } while (0)
#define TOTAL 3000
#define PARTITIONS 3
#define T 20000

extern char **environ;
static volatile pid_t child = -1;

/* The child must not outlive a failed test. */
static void fail_cleanup(void) {
    if (child > 0) kill(child, SIGKILL);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL test_eos: still running after 300 s\n";
    if (child > 0) kill(child, SIGKILL);
    if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0) _exit(2);
    _exit(1);
}

/* Starts the copier with its stdout on a pipe; returns the read end. Signals are reset to
 * their defaults and unblocked in the child, whatever this process inherited. */
static FILE *start_copier(const char *exe, const char *bootstrap) {
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    char total[16];
    snprintf(total, sizeof total, "%d", TOTAL);
    char *args[] = { (char *)exe, (char *)bootstrap, "eos-in", "eos-out", total, NULL };
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &actions, &attr, args, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    CHECK(rc == 0, "starting %s: %s", exe, strerror(rc));
    child = pid;
    close(fds[1]);
    FILE *out = fdopen(fds[0], "r");
    CHECK(out != NULL, "fdopen");
    return out;
}

static int wait_child(void) {
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child, "waitpid");
    child = -1;
    return status;
}

static fk_conf_t *conf_for(const char *bootstrap) {
    char err[256];
    fk_conf_t *conf = fk_conf_new();
    CHECK(fk_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) == FK_OK, "%s", err);
    return conf;
}

/* Reads every partition of eos-out from the beginning: `seen[i]` counts "copy:i". Returns how
 * many records there were. */
static int read_output(const char *bootstrap, const char *isolation, int *seen) {
    char err[512];
    fk_conf_t *conf = conf_for(bootstrap);
    CHECK(fk_conf_set(conf, "isolation.level", isolation, err, sizeof err) == FK_OK, "%s", err);
    fk_consumer_t *c = fk_consumer_new(conf, err, sizeof err);
    fk_conf_destroy(conf);
    CHECK(c != NULL, "consumer: %s", err);
    fk_topic_partition_t parts[PARTITIONS];
    for (int i = 0; i < PARTITIONS; i++) parts[i] = (fk_topic_partition_t){ "eos-out", i, FK_OFFSET_BEGINNING, 0 };
    CHECK(fk_assign(c, parts, PARTITIONS, err, sizeof err) == FK_OK, "assign: %s", err);
    int n = 0;
    /* Every record is waited for; then nothing more may come. */
    for (fk_message_t *m; (m = fk_consumer_poll(c, n < TOTAL ? T : 500)) != NULL; fk_message_destroy(m)) {
        CHECK(fk_message_error(m) == FK_OK, "consumer error: %s", fk_message_errstr(m));
        size_t len = 0;
        const char *v = fk_message_value(m, &len);
        char text[32] = { 0 };
        CHECK(len > 5 && len < sizeof text && memcmp(v, "copy:", 5) == 0, "a copy: %.*s", (int)len, v);
        memcpy(text, v + 5, len - 5);
        int i = atoi(text);
        CHECK(i >= 0 && i < TOTAL, "an input value: %s", text);
        if (seen) seen[i]++;
        n++;
    }
    fk_consumer_destroy(c);
    return n;
}

int main(int argc, char **argv) {
    char err[512];
    CHECK(argc == 3, "usage: test_eos DATA_DIR PATH_TO_EOS_COPY");
    signal(SIGALRM, on_alarm);
    alarm(300);
    fk_broker_t *broker = fk_broker_start(argv[1], "127.0.0.1:0", err, sizeof err);
    CHECK(broker != NULL, "broker start: %s", err);
    const char *bootstrap = fk_broker_bootstrap(broker);

    fk_conf_t *conf = conf_for(bootstrap);
    fk_admin_t *admin = fk_admin_new(conf, err, sizeof err);
    CHECK(admin != NULL, "admin: %s", err);
    CHECK(fk_admin_create_topic(admin, "eos-in", PARTITIONS, -1, err, sizeof err) == FK_OK, "%s", err);
    CHECK(fk_admin_create_topic(admin, "eos-out", PARTITIONS, -1, err, sizeof err) == FK_OK, "%s", err);
    fk_admin_destroy(admin);
    fk_producer_t *p = fk_producer_new(conf, NULL, NULL, err, sizeof err);
    CHECK(p != NULL, "producer: %s", err);
    for (int i = 0; i < TOTAL; i++) {
        char key[16], value[16];
        int klen = snprintf(key, sizeof key, "k%d", i % 37), vlen = snprintf(value, sizeof value, "%d", i);
        CHECK(fk_produce(p, "eos-in", FK_PARTITION_UA, key, (size_t)klen, value, (size_t)vlen, NULL, 0, 0, NULL, err,
                         sizeof err) == FK_OK,
              "produce: %s", err);
    }
    CHECK(fk_flush(p, T) == FK_OK, "input written");
    fk_producer_destroy(p);

    /* First run: killed once a third is committed, right after it wrote a transaction it has
     * not committed yet. */
    FILE *out = start_copier(argv[2], bootstrap);
    char line[256];
    long long committed = 0;
    int killed = 0;
    while (fgets(line, sizeof line, out)) {
        sscanf(line, "committed %lld", &committed);
        if (committed >= TOTAL / 3 && strncmp(line, "sent", 4) == 0) {
            CHECK(kill(child, SIGKILL) == 0, "kill");
            killed = 1;
            break;
        }
    }
    fclose(out);
    int status = wait_child();
    CHECK(killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
          "the copier was killed in the middle (committed %lld of %d; status %d)", committed, TOTAL, status);
    printf("killed    the copier with SIGKILL after it committed %lld of %d records\n", committed, TOTAL);

    /* Second run: from the last commit to the end. */
    out = start_copier(argv[2], bootstrap);
    long long resumed = -1;
    while (fgets(line, sizeof line, out)) {
        long long c;
        if (resumed < 0 && sscanf(line, "committed %lld", &c) == 1) resumed = c;
    }
    fclose(out);
    status = wait_child();
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the restarted copier finished (status %d)", status);
    CHECK(resumed >= committed, "the restart went on from the last commit (%lld), not from the start: %lld", committed,
          resumed);
    printf("restarted the copier: its first commit reached %lld, and it finished\n", resumed);

    static int seen[TOTAL];
    int n = read_output(bootstrap, "read_committed", seen);
    int missing = 0, twice = 0;
    for (int i = 0; i < TOTAL; i++) {
        if (seen[i] == 0) missing++;
        if (seen[i] > 1) twice++;
    }
    CHECK(n == TOTAL && missing == 0 && twice == 0, "read_committed: %d records, %d inputs missing, %d more than once", n,
          missing, twice);
    int all = read_output(bootstrap, "read_uncommitted", NULL);
    CHECK(all >= TOTAL, "read_uncommitted: %d", all);
    printf("output    %d records, every input exactly once (read_committed); %d aborted ones in the log\n", n,
           all - TOTAL);

    /* The group's offsets were committed by the transactions, up to the end of the input. */
    CHECK(fk_conf_set(conf, "group.id", "eos-copy-eos-in", err, sizeof err) == FK_OK, "%s", err);
    fk_consumer_t *c = fk_consumer_new(conf, err, sizeof err);
    CHECK(c != NULL, "consumer: %s", err);
    fk_topic_partition_t parts[PARTITIONS];
    for (int i = 0; i < PARTITIONS; i++) parts[i] = (fk_topic_partition_t){ "eos-in", i, 0, 0 };
    CHECK(fk_committed(c, parts, PARTITIONS, err, sizeof err) == FK_OK, "committed: %s", err);
    long long sum = 0;
    for (int i = 0; i < PARTITIONS; i++) sum += parts[i].offset;
    CHECK(sum == TOTAL, "committed offsets cover the input: %lld", sum);
    fk_consumer_destroy(c);
    fk_conf_destroy(conf);
    CHECK(fk_broker_stop(broker) == FK_OK, "broker stop: %s", fk_last_error());
    printf("all checks passed\n");
    return 0;
}
