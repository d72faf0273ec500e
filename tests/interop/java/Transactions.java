// The Java client's transactions against a broker: an aborted then a committed transaction
// read back by a read_committed consumer, and a second producer with the same
// transactional.id fencing the first. Exits non-zero, saying why, on any difference.
//
// Usage: java Transactions BOOTSTRAP TOPIC
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class Transactions {
    static void fail(String why) {
        System.out.println("FAIL " + why);
        System.exit(1);
    }

    static KafkaProducer<String, String> producer(String bootstrap, String transactionalId) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("transactional.id", transactionalId);
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        KafkaProducer<String, String> producer = new KafkaProducer<>(p);
        producer.initTransactions();
        return producer;
    }

    static List<String> readCommitted(String bootstrap, String topic) {
        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("isolation.level", "read_committed");
        c.put("key.deserializer", StringDeserializer.class.getName());
        c.put("value.deserializer", StringDeserializer.class.getName());
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            // For read_committed, the end offset is the last stable offset.
            long end = consumer.endOffsets(List.of(tp)).get(tp);
            long deadline = System.currentTimeMillis() + 30_000;
            while (consumer.position(tp) < end) {
                if (System.currentTimeMillis() > deadline) fail("did not reach offset " + end);
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) values.add(r.value());
            }
        }
        return values;
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1];
        String id = topic + "-tx";
        KafkaProducer<String, String> first = producer(bootstrap, id);
        first.beginTransaction();
        for (int i = 0; i < 3; i++) first.send(new ProducerRecord<>(topic, 0, "k", "aborted-" + i));
        first.abortTransaction();
        first.beginTransaction();
        for (int i = 0; i < 3; i++) first.send(new ProducerRecord<>(topic, 0, "k", "committed-" + i));
        first.commitTransaction();
        List<String> seen = readCommitted(bootstrap, topic);
        if (!seen.equals(List.of("committed-0", "committed-1", "committed-2"))) fail("read_committed saw " + seen);

        first.beginTransaction();
        first.send(new ProducerRecord<>(topic, 0, "k", "zombie")).get();
        KafkaProducer<String, String> second = producer(bootstrap, id);
        try {
            first.commitTransaction();
            fail("the fenced producer committed");
        } catch (ProducerFencedException expected) {
            // As Kafka answers a producer whose epoch a newer instance bumped.
        }
        first.close(Duration.ZERO);
        second.beginTransaction();
        second.send(new ProducerRecord<>(topic, 0, "k", "fresh"));
        second.commitTransaction();
        second.close();
        seen = readCommitted(bootstrap, topic);
        if (!seen.equals(List.of("committed-0", "committed-1", "committed-2", "fresh"))) fail("after fencing: " + seen);
        System.out.println("OK transactions");
    }
}
