"""Admin-only API: CSM accounts (and, as the sync lands, the sync configuration)."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import permissions, serializers, viewsets

from tasks.models import UserProfile, time_zone_choices

from . import services

User = get_user_model()


class UserSerializer(serializers.ModelSerializer):
    password = serializers.CharField(
        write_only=True, required=False, style={"input_type": "password"}, trim_whitespace=False
    )
    time_zone = serializers.ChoiceField(
        choices=time_zone_choices(), required=False, allow_blank=True
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "password",
            "is_staff",
            "is_active",
            "time_zone",
        ]

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        try:
            data["time_zone"] = instance.profile.time_zone
        except UserProfile.DoesNotExist:
            data["time_zone"] = ""
        return data

    def validate_email(self, value: str) -> str:
        if not value:
            raise serializers.ValidationError("A CSM needs an email (it matches Salesforce users).")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        password = attrs.get("password")
        if self.instance is None and not password:
            raise serializers.ValidationError({"password": "This field is required."})
        if password:
            candidate = User(
                username=attrs.get("username", getattr(self.instance, "username", "")),
                email=attrs.get("email", getattr(self.instance, "email", "")),
            )
            try:
                validate_password(password, candidate)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": exc.messages}) from None
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Any:
        return services.user_create(**validated_data)

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        return services.user_update(user=instance, **validated_data)


class UserViewSet(viewsets.ModelViewSet):
    """Admins list, create and change CSM accounts."""

    queryset = User.objects.select_related("profile").order_by("username")
    serializer_class = UserSerializer
    permission_classes = [permissions.IsAdminUser]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
