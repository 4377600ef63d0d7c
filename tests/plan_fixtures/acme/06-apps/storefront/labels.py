"""Helper module beside __main__.py: the app's labels (plan must purge it between stacks)."""

APP = "storefront"


def labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component}
