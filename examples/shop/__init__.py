"""An example shop: the checkout saga and the Orders/Inventory/Payments/Shipping services.

The services honour the saga contract (docs/saga.md) and keep one
`CheckoutLedger` of effects, which `check_books` checks the sagas against.
"""

from examples.shop._checkout import (
    CHECKOUT,
    CheckoutBooks,
    CheckoutLedger,
    CheckoutService,
    Effect,
    Inventory,
    Orders,
    Payments,
    Shipping,
    announcement,
    announcement_topic,
    check_books,
    checkout_definition,
    checkout_services,
)

__all__ = [
    "CHECKOUT",
    "CheckoutBooks",
    "CheckoutLedger",
    "CheckoutService",
    "Effect",
    "Inventory",
    "Orders",
    "Payments",
    "Shipping",
    "announcement",
    "announcement_topic",
    "check_books",
    "checkout_definition",
    "checkout_services",
]
