package io.ordersystem.peers.debezium;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.source.SourceRecord;

import io.debezium.embedded.Connect;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.ChangeEvent;

/**
 * Debezium's answer to our outbox relay: the embedded engine streams the outbox table's inserts
 * from a PostgreSQL logical replication slot (pgoutput), the outbox EventRouter turns each into a
 * message for {@code <aggregate_type>.events} keyed by aggregate_id, and a Kafka producer with
 * the same guarantees as ours (acks=all, idempotent, lz4) publishes it. A batch is marked
 * processed only after Kafka acknowledged all of it, so the slot never moves past an event that
 * is not in Kafka. Configured by PEER_* environment variables (bench/peers.py sets them);
 * SIGTERM stops it.
 */
public final class OutboxRelayPeer {

    private OutboxRelayPeer() {
    }

    public static void main(String[] args) throws Exception {
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerConfig());
        DebeziumEngine<ChangeEvent<SourceRecord, SourceRecord>> engine = DebeziumEngine.create(Connect.class)
                .using(engineConfig())
                .notifying((records, committer) -> {
                    List<Future<RecordMetadata>> sent = new ArrayList<>(records.size());
                    for (ChangeEvent<SourceRecord, SourceRecord> event : records) {
                        ProducerRecord<byte[], byte[]> message = toMessage(event.value());
                        if (message != null) {
                            sent.add(producer.send(message));
                        }
                    }
                    try {
                        for (Future<RecordMetadata> ack : sent) {
                            ack.get(30, TimeUnit.SECONDS);
                        }
                    } catch (Exception e) {
                        // Not marked processed: the engine stops and the slot keeps the events.
                        throw new InterruptedException("kafka did not acknowledge: " + e);
                    }
                    for (ChangeEvent<SourceRecord, SourceRecord> event : records) {
                        committer.markProcessed(event);
                    }
                    committer.markBatchFinished();
                })
                .using((success, message, error) -> {
                    if (!success) {
                        System.err.println("debezium_engine_stopped: " + message);
                    }
                })
                .build();
        ExecutorService executor = Executors.newSingleThreadExecutor();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                engine.close();
                executor.shutdown();
                executor.awaitTermination(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                System.err.println("debezium_close_failed: " + e);
            } finally {
                producer.close();
                stopped.countDown();
            }
        }));
        executor.execute(engine);
        stopped.await();
    }

    /** The Kafka message of one routed outbox row, or null for what the router dropped. */
    private static ProducerRecord<byte[], byte[]> toMessage(SourceRecord record) {
        if (record.topic() == null || record.value() == null) {
            return null;
        }
        RecordHeaders headers = new RecordHeaders();
        for (Header header : record.headers()) {
            if (header.value() != null) {
                headers.add(header.key(), String.valueOf(header.value()).getBytes(StandardCharsets.UTF_8));
            }
        }
        byte[] key = record.key() == null ? null : String.valueOf(record.key()).getBytes(StandardCharsets.UTF_8);
        byte[] value = String.valueOf(record.value()).getBytes(StandardCharsets.UTF_8);
        return new ProducerRecord<>(record.topic(), null, key, value, headers);
    }

    private static Properties producerConfig() {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, env("PEER_KAFKA_BOOTSTRAP", "localhost:9092"));
        props.put(ProducerConfig.CLIENT_ID_CONFIG, "debezium-peer");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        props.put(ProducerConfig.LINGER_MS_CONFIG, env("PEER_LINGER_MS", "5"));
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, "1000000");
        // Every send answered within 30 s, as ours (the request timeout must fit inside it).
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "20000");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return props;
    }

    private static Properties engineConfig() {
        Properties props = new Properties();
        props.setProperty("name", "debezium-peer");
        props.setProperty("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
        props.setProperty("offset.storage", "org.apache.kafka.connect.storage.FileOffsetBackingStore");
        props.setProperty("offset.storage.file.filename", env("PEER_OFFSETS_FILE", "debezium-offsets.dat"));
        props.setProperty("offset.flush.interval.ms", "1000");
        props.setProperty("database.hostname", env("PEER_PG_HOST", "127.0.0.1"));
        props.setProperty("database.port", env("PEER_PG_PORT", "5433"));
        props.setProperty("database.user", env("PEER_PG_USER", "platform"));
        props.setProperty("database.password", env("PEER_PG_PASSWORD", ""));
        props.setProperty("database.dbname", env("PEER_PG_DATABASE", "postgres"));
        props.setProperty("topic.prefix", "debezium-peer");
        props.setProperty("plugin.name", "pgoutput");
        props.setProperty("slot.name", env("PEER_SLOT", "debezium_peer"));
        props.setProperty("publication.name", env("PEER_SLOT", "debezium_peer"));
        props.setProperty("publication.autocreate.mode", "filtered");
        props.setProperty("table.include.list", "public.outbox");
        // Only what is written from now on: the outbox is a stream of new events, not a table to copy.
        props.setProperty("snapshot.mode", "no_data");
        // Debezium's default (500 ms) waits that long for a full batch; our relay is woken by
        // NOTIFY, so the peer gets a short poll too (PEER_POLL_INTERVAL_MS to compare).
        props.setProperty("poll.interval.ms", env("PEER_POLL_INTERVAL_MS", "10"));
        props.setProperty("max.batch.size", env("PEER_MAX_BATCH_SIZE", "2048"));
        props.setProperty("max.queue.size", env("PEER_MAX_QUEUE_SIZE", "16384"));
        props.setProperty("transforms", "outbox");
        props.setProperty("transforms.outbox.type", "io.debezium.transforms.outbox.EventRouter");
        props.setProperty("transforms.outbox.table.field.event.id", "event_id");
        props.setProperty("transforms.outbox.table.field.event.key", "aggregate_id");
        props.setProperty("transforms.outbox.table.field.event.payload", "payload");
        props.setProperty("transforms.outbox.route.by.field", "aggregate_type");
        props.setProperty("transforms.outbox.route.topic.replacement", "${routedByValue}.events");
        props.setProperty("transforms.outbox.table.fields.additional.placement",
                "event_type:header:event_type,event_version:header:version,aggregate_type:header:aggregate_type");
        return props;
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? fallback : value;
    }
}
