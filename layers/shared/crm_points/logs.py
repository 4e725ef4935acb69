"""The layer's one logger: every function and every module of the layer logs through it.

Powertools' Logger writes one JSON object a line, with the function's context and the
invocation's correlation id (crm_points.handlers sets it), so CloudWatch Logs Insights can
follow one request, event or message across everything it logged.
"""

from aws_lambda_powertools.logging import Logger

SERVICE = "crm-points"

logger = Logger(service=SERVICE)
