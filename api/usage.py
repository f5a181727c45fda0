"""GET /api/v1/usage: the view and its output serializer."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.metering import MeteredApiView
from api.schema import error_responses, usage_headers
from usage.selectors import usage_this_month


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2025-06"})
class MonthField(serializers.DateField):
    """A calendar month, written "2025-06"."""

    def __init__(self, **kwargs) -> None:
        super().__init__(format="%Y-%m", **kwargs)


class UsageApi(MeteredApiView):
    """Your account's plan, its limits and this month's usage.

    `GET /api/v1/usage` with `Authorization: Bearer pk_live_…` answers, for the account the key
    belongs to:

    - `plan`: `pro` or `agency`;
    - `monthlyLimit`: images you may optimize per calendar month (UTC), or `null` for unlimited;
    - `used`: images optimized this month, all of the account's keys together (failed
      optimizations are not counted);
    - `remaining`: images left this month, or `null` for unlimited;
    - `month`: the month counted, e.g. `"2025-06"`;
    - `resetsAt`: when the count starts again from zero (midnight UTC on the 1st of next month);
    - `rateLimitPerMinute`: requests per minute, all of the account's keys together.

    Calling it does not count towards your monthly images, but it does count towards the rate
    limit. Like every API answer it carries `X-RateLimit-Limit`, `X-RateLimit-Remaining`,
    `X-RateLimit-Reset` (Unix time at which the current minute's count ends), `X-Quota-Used` and
    `X-Quota-Limit` (a number, or `unlimited`). A method other than GET (or HEAD, OPTIONS) is 405
    `METHOD_NOT_ALLOWED`.
    """

    class OutputSerializer(serializers.Serializer):
        plan = serializers.CharField(source="account.plan.code")
        monthlyLimit = serializers.IntegerField(source="usage.limit", allow_null=True)
        used = serializers.IntegerField(source="usage.used")
        remaining = serializers.IntegerField(source="usage.remaining", allow_null=True)
        month = MonthField(source="usage.month")
        resetsAt = serializers.DateTimeField(source="usage.resets_at")
        rateLimitPerMinute = serializers.IntegerField(source="rate_limit_per_minute")

        class Meta:
            ref_name = "Usage"

    @extend_schema(
        operation_id="usage",
        summary="Your plan and usage",
        tags=["Account"],
        responses={
            200: OpenApiResponse(
                OutputSerializer, description="The plan, limits and this month's usage of the account."
            ),
            **error_responses(401, 403, 429, 503),
        },
        parameters=usage_headers(),
    )
    def get(self, request: Request) -> Response:
        account = self.metering.account
        usage = usage_this_month(account=account)
        self.metering.quota_used = usage.used
        data = {"account": account, "usage": usage, "rate_limit_per_minute": self.metering.limits.rate_limit_per_minute}
        return Response(self.OutputSerializer(data).data)
