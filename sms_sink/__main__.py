from servicekit.server import serve
from sms_sink.settings import SmsSinkSettings

serve("sms_sink.main:create_app", SmsSinkSettings(), name="sms-sink")
