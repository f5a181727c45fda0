from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        # E-mail is the username: one spelling per mailbox, whatever case people type.
        return (email or "").strip().lower()

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email=self.normalize_email(username))

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> "User":
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. The e-mail address is the username."""

    email = models.EmailField(unique=True)
    is_staff = models.BooleanField(default=False, help_text="Can sign in to the admin.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.email


class PlanCode(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    AGENCY = "agency", "Agency"


class Plan(models.Model):
    """A price point and its limits. Rows are data (seeded by a migration), edited by staff."""

    code = models.CharField(max_length=20, choices=PlanCode.choices, unique=True)
    name = models.CharField(max_length=50)
    price_cents = models.PositiveIntegerField(help_text="Monthly price in US cents.")
    monthly_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Images per calendar month (UTC). Empty means unlimited."
    )
    rate_limit_per_minute = models.PositiveIntegerField(help_text="Requests per minute, all keys together.")
    api_access = models.BooleanField(help_text="Whether API keys of this plan may call the API.")

    class Meta:
        ordering = ["price_cents"]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    """The customer: owns the plan, the API keys, the usage and the Stripe customer."""

    owner = models.OneToOneField(User, on_delete=models.CASCADE, related_name="account")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="accounts")
    monthly_limit_override = models.PositiveIntegerField(
        null=True, blank=True, help_text="Takes precedence over the plan's monthly limit. Empty: use the plan's."
    )
    rate_limit_override = models.PositiveIntegerField(
        null=True, blank=True, help_text="Takes precedence over the plan's rate limit. Empty: use the plan's."
    )
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    welcome_email_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_customer_id"],
                condition=~models.Q(stripe_customer_id=""),
                name="account_unique_stripe_customer",
            )
        ]

    def __str__(self) -> str:
        return self.owner.email
