from django import forms

from apikeys.models import ApiKey


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=ApiKey._meta.get_field("name").max_length,
        help_text="Where the key will be used, e.g. “Production server” or “CI”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
