"""The web "try it" form: the API's options, for a person in a browser."""

from django import forms

from optimizer.fetch import MAX_URL_LENGTH
from optimizer.formats import RequestedFormat
from optimizer.pipeline import OptimizeOptions
from optimizer.services import DEFAULT_OPTIONS, MAX_WIDTH_BOUNDS, QUALITY_BOUNDS, ImageSource

FORMAT_CHOICES = [
    (RequestedFormat.AUTO.value, "Auto — the smaller of WebP and AVIF"),
    (RequestedFormat.WEBP.value, "WebP"),
    (RequestedFormat.AVIF.value, "AVIF"),
]


class TryItForm(forms.Form):
    file = forms.FileField(
        required=False,
        label="Image",
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )
    url = forms.CharField(
        required=False,
        max_length=MAX_URL_LENGTH,
        label="Or an image URL",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/photo.jpg", "spellcheck": "false"}),
    )
    format = forms.ChoiceField(choices=FORMAT_CHOICES, initial=DEFAULT_OPTIONS.format.value, widget=forms.RadioSelect)
    quality = forms.IntegerField(
        min_value=QUALITY_BOUNDS.min, max_value=QUALITY_BOUNDS.max, initial=DEFAULT_OPTIONS.quality
    )
    max_width = forms.IntegerField(
        min_value=MAX_WIDTH_BOUNDS.min,
        max_value=MAX_WIDTH_BOUNDS.max,
        initial=DEFAULT_OPTIONS.max_width,
        label="Max width",
    )
    smart = forms.BooleanField(required=False, initial=DEFAULT_OPTIONS.smart, label="Smart compression")

    def clean(self) -> dict:
        cleaned = super().clean()
        upload, url = cleaned.get("file"), (cleaned.get("url") or "").strip()
        if upload and url:
            raise forms.ValidationError("Choose a file or paste a URL, not both.", code="both")
        if len(self.files.getlist("file")) > 1:  # the page's input takes one; the API refuses two as well
            raise forms.ValidationError("Choose one image at a time.", code="several")
        if not upload and not url and "file" not in self.errors and "url" not in self.errors:
            raise forms.ValidationError("Choose an image, drop one here, or paste its URL.", code="missing")
        cleaned["url"] = url
        return cleaned

    def source(self) -> ImageSource:
        upload = self.cleaned_data["file"]
        return ImageSource(upload=upload.read()) if upload else ImageSource(url=self.cleaned_data["url"])

    def options(self) -> OptimizeOptions:
        data = self.cleaned_data
        return OptimizeOptions(
            format=RequestedFormat(data["format"]),
            quality=data["quality"],
            max_width=data["max_width"],
            smart=data["smart"],
        )
