from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import MaxValueValidator, MinValueValidator
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

    # Django's own ways to make users (createsuperuser, and any code calling these) go through the
    # service that creates every user with its account: accounts.services.account_create.
    def create_user(self, email: str, password: str | None = None, *, is_staff: bool = False) -> "User":
        from accounts.services import account_create  # the service imports this module

        return account_create(email=email, password=password, is_staff=is_staff).owner

    def create_superuser(self, email: str, password: str | None = None) -> "User":
        return self.create_user(email, password, is_staff=True)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. The e-mail address is the username."""

    email = models.EmailField(unique=True)
    is_staff = models.BooleanField(default=False, help_text="Can sign in to the admin.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # Set when the owner of the address followed the link we sent there (or when staff or an
    # operator made the account). Until then the account cannot use try-it or create API keys.
    email_verified_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.email

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class PlanCode(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    AGENCY = "agency", "Agency"


# A rate limit of 0 refused every request with a Retry-After that could never help: clients waited
# and were refused again, forever. (A monthly limit of 0 refuses until next month, and says so.)
MIN_RATE_LIMIT = 1


class Plan(models.Model):
    """A price point and its limits. Rows are data (seeded by a migration), edited by staff."""

    code = models.CharField(max_length=20, choices=PlanCode.choices, unique=True)
    name = models.CharField(max_length=50)
    price_cents = models.PositiveIntegerField(help_text="Monthly price in US cents.")
    monthly_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Images per calendar month (UTC). Empty means unlimited."
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        validators=[MinValueValidator(MIN_RATE_LIMIT)], help_text="Requests per minute, all keys together."
    )
    api_access = models.BooleanField(help_text="Whether API keys of this plan may call the API.")

    class Meta:
        ordering = ["price_cents"]

    def __str__(self) -> str:
        return self.name


# The largest number the overrides' columns hold on PostgreSQL (SQLite's would hold more: the
# validators keep the admin to what setquota allows everywhere).
MAX_OVERRIDE = 2**31 - 1


class Account(models.Model):
    """The customer: owns the plan, the API keys, the usage and the Stripe customer."""

    owner = models.OneToOneField(User, on_delete=models.CASCADE, related_name="account")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="accounts")
    monthly_limit_override = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_OVERRIDE)],
        help_text="Takes precedence over the plan's monthly limit. Empty: use the plan's.",
    )
    rate_limit_override = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_RATE_LIMIT), MaxValueValidator(MAX_OVERRIDE)],
        help_text="Takes precedence over the plan's rate limit. Empty: use the plan's.",
    )
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    welcome_email_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Where the sign-up was on its way to (a path of this site: accounts.next_url), kept for the
    # welcome e-mail's link, also when beat sends it late (the broker was down at sign-up).
    sign_up_next_path = models.TextField(blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_customer_id"],
                condition=~models.Q(stripe_customer_id=""),
                name="account_unique_stripe_customer",
                # Staff see it in the admin, where Django's own names only the constraint.
                violation_error_message="Another account is already linked to this Stripe customer id.",
            )
        ]

    def __str__(self) -> str:
        return self.owner.email
