from django import template
from django.forms import BoundField

register = template.Library()


@register.filter
def focused_if_first_error(field: BoundField) -> str:
    """The field's input, given the page's autofocus if it is its form's first field in error (any
    other field's autofocus gives way): a refused form comes back with the keyboard, and a screen
    reader, at the first thing to correct."""
    form = field.form
    first_invalid = next((name for name in form.fields if name in form.errors), None)
    if first_invalid is None:
        return str(field)
    return field.as_widget(attrs={"autofocus": field.name == first_invalid})  # False leaves it out
