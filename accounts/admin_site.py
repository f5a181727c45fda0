from django_otp.admin import OTPAdminSite


class SecondFactorAdminSite(OTPAdminSite):
    """The admin, open only to staff who signed in to it with a second factor: a code from their
    TOTP device or one of their backup codes (django-otp). A password alone opens nothing; staff
    signed in to the site without one are asked for it by the admin's own sign-in page."""

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
