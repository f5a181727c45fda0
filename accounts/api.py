from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import account_limits
from apikeys.authentication import ApiKeyAuthentication, HasApiAccess
from smolpix.schema import error_responses


class UsageApi(APIView):
    """Your account's plan and its limits.

    `GET /api/v1/usage` with `Authorization: Bearer pk_live_…` answers, for the account the key
    belongs to:

    - `plan`: `pro` or `agency`;
    - `monthlyLimit`: images you may optimize per calendar month (UTC), or `null` for unlimited;
    - `rateLimitPerMinute`: requests per minute, all of the account's keys together.

    Calling it does not count towards your monthly images.
    """

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiAccess]

    class OutputSerializer(serializers.Serializer):
        plan = serializers.CharField(source="account.plan.code")
        monthlyLimit = serializers.IntegerField(source="limits.monthly_limit", allow_null=True)
        rateLimitPerMinute = serializers.IntegerField(source="limits.rate_limit_per_minute")

        class Meta:
            ref_name = "Usage"

    @extend_schema(
        operation_id="usage",
        summary="Your plan and usage",
        tags=["Account"],
        responses={
            200: OpenApiResponse(OutputSerializer, description="The plan and limits of the key's account."),
            **error_responses(401, 403),
        },
    )
    def get(self, request: Request) -> Response:
        account = request.auth.account
        usage = {"account": account, "limits": account_limits(account=account)}
        return Response(self.OutputSerializer(usage).data)
