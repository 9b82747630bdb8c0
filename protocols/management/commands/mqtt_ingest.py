from django.core.management.base import BaseCommand, CommandError

from protocols.mqtt.consumer import MqttIngestConsumer


class Command(BaseCommand):
    help = "Consumes device batches from an MQTT 5 broker (edgeportal/<uid>/events, QoS 1) into the ingest service."

    def add_arguments(self, parser):
        parser.add_argument("--broker", required=True, help="mqtt://[user:password@]host[:port] or mqtts://...")
        parser.add_argument("--client-id", default="edgeportal-ingest",
                            help="Keep it stable: the broker holds unacknowledged messages for this id")  # fmt: skip
        parser.add_argument("--shared", metavar="GROUP", default=None,
                            help="Subscribe as $share/GROUP/... so several consumers split the load")  # fmt: skip
        parser.add_argument("--session-expiry", type=int, default=7 * 24 * 3600,
                            help="Seconds the broker keeps undelivered messages while this consumer is away")  # fmt: skip
        parser.add_argument("--max-messages", type=int, default=None, help="Exit after this many (benchmarks)")

    def handle(self, *args, broker, client_id, shared, max_messages, session_expiry, **options):
        try:
            consumer = MqttIngestConsumer(broker_url=broker, client_id=client_id, shared_group=shared,
                                          max_messages=max_messages, session_expiry_s=session_expiry)  # fmt: skip
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stderr.write(f"mqtt ingest: {broker} as {client_id}, topic {consumer.topic}")
        consumer.run()
