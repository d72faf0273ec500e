// libferrokafka from C++: the C header as is, handles owned by std::unique_ptr.
//   c++ -std=c++17 examples/c/example.cpp $(pkg-config --cflags --libs ferrokafka) -o example_cpp
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include <ferrokafka.h>

struct BrokerStop { void operator()(fk_broker_t *b) const { fk_broker_stop(b); } };
struct ConfFree { void operator()(fk_conf_t *c) const { fk_conf_destroy(c); } };
struct ProducerFree { void operator()(fk_producer_t *p) const { fk_producer_destroy(p); } };
struct ConsumerFree { void operator()(fk_consumer_t *c) const { fk_consumer_destroy(c); } };
struct MessageFree { void operator()(fk_message_t *m) const { fk_message_destroy(m); } };

int main(int argc, char **argv) {
    char err[512];
    std::unique_ptr<fk_broker_t, BrokerStop> broker(fk_broker_start(argc > 1 ? argv[1] : "./ferrokafka-data", "127.0.0.1:0", err, sizeof err));
    if (!broker) { std::fprintf(stderr, "broker: %s\n", err); return 1; }
    std::unique_ptr<fk_conf_t, ConfFree> conf(fk_conf_new());
    if (fk_conf_set(conf.get(), "bootstrap.servers", fk_broker_bootstrap(broker.get()), err, sizeof err) != FK_OK) return 1;

    std::unique_ptr<fk_producer_t, ProducerFree> producer(fk_producer_new(conf.get(), nullptr, nullptr, err, sizeof err));
    const std::string value = "hello from C++";
    if (fk_produce(producer.get(), "cpp", 0, nullptr, 0, value.data(), value.size(), nullptr, 0, 0, nullptr, err, sizeof err) != FK_OK) return 1;
    if (fk_flush(producer.get(), 10000) != FK_OK) return 1;

    std::unique_ptr<fk_consumer_t, ConsumerFree> consumer(fk_consumer_new(conf.get(), err, sizeof err));
    fk_topic_partition_t part{"cpp", 0, FK_OFFSET_BEGINNING, 0};
    if (fk_assign(consumer.get(), &part, 1, err, sizeof err) != FK_OK) { std::fprintf(stderr, "%s\n", err); return 1; }
    std::unique_ptr<fk_message_t, MessageFree> m(fk_consumer_poll(consumer.get(), 10000));
    size_t len = 0;
    const void *bytes = m ? fk_message_value(m.get(), &len) : nullptr;
    if (!bytes || std::string(static_cast<const char *>(bytes), len) != value) { std::fprintf(stderr, "no record\n"); return 1; }
    std::printf("C++ read back: %.*s\n", static_cast<int>(len), static_cast<const char *>(bytes));
    return 0;
}
