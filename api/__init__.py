"""The public REST API (/api/v1/): its views and serializers, the key's authentication, the
metering every view gets, and the one mapping of exceptions to error answers. The rules it applies
live in the apps' services and selectors; this package only speaks HTTP."""
