"""A Kafka client we did not write (confluent-kafka), driven by the Kafka interop tests.

  kafka_client.py BROKERS create TOPIC PARTITIONS
  kafka_client.py BROKERS produce TOPIC FILE      # FILE: JSON lines {"partition", "key", "value", "timestamp"}
                                                 # (value null: tombstone; "value_b64" for raw bytes)
  kafka_client.py BROKERS produce-avro TOPIC SCHEMA FRAMING FILE
                                                 # FILE: JSON lines {"partition", "key", "record"} encoded
                                                 # with fastavro against SCHEMA (.avsc), FRAMING bare or
                                                 # confluent; {"value_b64"} lines are sent as they are
  kafka_client.py BROKERS consume TOPIC           # read_committed, to the end; JSON lines on stdout
                                                 # {"partition", "offset", "key", "value", "headers"}
Exits non-zero with the error on stderr when the broker refuses.
"""
import base64
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create(brokers, topic, partitions):
    admin = AdminClient({"bootstrap.servers": brokers})
    futures = admin.create_topics([NewTopic(topic, num_partitions=int(partitions), replication_factor=1)])
    for f in futures.values():
        f.result(30)
    # Wait until the metadata shows every partition.
    deadline = time.time() + 30
    while time.time() < deadline:
        md = admin.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == int(partitions):
            return
        time.sleep(0.2)
    raise SystemExit(f"topic {topic} did not appear with {partitions} partitions")


def produce(brokers, topic, path):
    errors = []
    producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "linger.ms": 5})

    def report(err, _msg):
        if err is not None:
            errors.append(str(err))

    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            value = r.get("value")
            if "value_b64" in r:
                value = base64.b64decode(r["value_b64"])
            elif value is not None:
                value = value.encode()
            key = r.get("key")
            kwargs = {"value": value, "on_delivery": report}
            if key is not None:
                kwargs["key"] = key.encode()
            if r.get("partition") is not None:
                kwargs["partition"] = int(r["partition"])
            if r.get("timestamp") is not None:
                kwargs["timestamp"] = int(r["timestamp"])
            while True:
                try:
                    producer.produce(topic, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
    left = producer.flush(60)
    if left or errors:
        raise SystemExit(f"{left} record(s) not delivered; errors: {errors[:3]}")


def consume(brokers, topic):
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": "interop-reader",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
    })
    md = consumer.list_topics(topic, timeout=10)
    partitions = sorted(md.topics[topic].partitions.keys())
    ends = {}
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        ends[p] = high
    pending = {p for p in partitions if ends[p] > 0}
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    deadline = time.time() + 60
    while pending and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == -191:  # _PARTITION_EOF
                pending.discard(msg.partition())
                continue
            raise KafkaException(msg.error())
        value = msg.value()
        print(json.dumps({
            "partition": msg.partition(),
            "offset": msg.offset(),
            "key": None if msg.key() is None else msg.key().decode(),
            "value": None if value is None else value.decode(),
            "headers": {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])},
        }), flush=False)
    consumer.close()
    if pending:
        raise SystemExit(f"partitions {sorted(pending)} did not reach their end")


def produce_avro(brokers, topic, schema_path, framing, path):
    """Encodes each line's "record" with fastavro (not ours) and produces it like `produce`."""
    import datetime
    import decimal
    import io
    import struct
    import tempfile

    import fastavro

    with open(schema_path) as f:
        schema = fastavro.parse_schema(json.load(f))
    out = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
    with open(path) as f, out:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if "record" in r:
                record = dict(r.pop("record"))
                for name, value in list(record.items()):
                    if isinstance(value, dict) and "decimal" in value:
                        record[name] = decimal.Decimal(value["decimal"])
                    elif isinstance(value, dict) and "epoch_ms" in value:
                        record[name] = datetime.datetime.fromtimestamp(value["epoch_ms"] / 1000, tz=datetime.timezone.utc)
                buf = io.BytesIO()
                if framing == "confluent":
                    buf.write(b"\x00" + struct.pack(">I", 7))
                fastavro.schemaless_writer(buf, schema, record)
                r["value_b64"] = base64.b64encode(buf.getvalue()).decode()
            out.write(json.dumps(r) + "\n")
    produce(brokers, topic, out.name)


def main():
    brokers, command, *args = sys.argv[1:]
    {"create": create, "produce": produce, "produce-avro": produce_avro, "consume": consume}[command](brokers, *args)


if __name__ == "__main__":
    main()
