// The Java client (the protocol's reference) against a broker: an idempotent acks=all
// producer, then a consumer group that reads everything back and commits. Exits non-zero,
// saying why, if any record is missing, changed, duplicated or out of order.
//
// Usage: java ProduceConsume BOOTSTRAP TOPIC PARTITIONS RECORDS GROUP
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class ProduceConsume {
    static void fail(String why) {
        System.out.println("FAIL " + why);
        System.exit(1);
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], group = args[4];
        int partitions = Integer.parseInt(args[2]), n = Integer.parseInt(args[3]);

        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("enable.idempotence", "true");
        p.put("acks", "all");
        p.put("linger.ms", "5");
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            for (int i = 0; i < n; i++) {
                ProducerRecord<String, String> r = new ProducerRecord<>(topic, i % partitions, 1_000_000L + i, "k" + i, "v" + i);
                r.headers().add("i", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                sent.add(producer.send(r));
            }
            producer.flush();
            for (Future<RecordMetadata> f : sent) f.get();
        }
        System.out.println("produced " + n + " (idempotent, acks=all)");

        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("group.id", group);
        c.put("auto.offset.reset", "earliest");
        c.put("enable.auto.commit", "false");
        c.put("key.deserializer", StringDeserializer.class.getName());
        c.put("value.deserializer", StringDeserializer.class.getName());
        Map<Integer, Integer> lastPerPartition = new HashMap<>();
        Set<Integer> seen = new HashSet<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + 60_000;
            while (seen.size() < n) {
                if (System.currentTimeMillis() > deadline) fail("timed out after " + seen.size() + " of " + n + " records");
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    int i = Integer.parseInt(r.value().substring(1));
                    if (!r.key().equals("k" + i)) fail("key " + r.key() + " for value " + r.value());
                    if (r.partition() != i % partitions) fail("record " + i + " in partition " + r.partition());
                    if (r.timestamp() != 1_000_000L + i) fail("timestamp " + r.timestamp() + " for record " + i);
                    Header h = r.headers().lastHeader("i");
                    if (h == null || !new String(h.value(), StandardCharsets.UTF_8).equals(Integer.toString(i))) fail("header of record " + i);
                    Integer last = lastPerPartition.put(r.partition(), i);
                    if (last != null && last >= i) fail("record " + i + " after " + last + " in partition " + r.partition());
                    if (!seen.add(i)) fail("record " + i + " twice");
                }
            }
            if (consumer.assignment().size() != partitions) fail("assigned " + consumer.assignment() + ", not every partition");
            consumer.commitSync();
            Map<org.apache.kafka.common.TopicPartition, OffsetAndMetadata> committed = consumer.committed(consumer.assignment());
            for (var e : committed.entrySet()) {
                int part = e.getKey().partition();
                long expected = n / partitions + (part < n % partitions ? 1 : 0);
                if (e.getValue() == null || e.getValue().offset() != expected)
                    fail("committed " + e.getValue() + " for partition " + part + ", not " + expected);
            }
        }
        System.out.println("OK consumed " + n + " in group " + group + ", committed " + n);
    }
}
