# Sales customisations of the shop.
{
    "name": "Sale Custom",
    # 'version': '0.0.1' was the first draft
    "version": "17.0.1.10",
    "depends": ["sale_management"],
    "data": ["views/sale_order_views.xml", "data/sequence.xml"],
    "external_dependencies": {"python": ["phonenumbers"], "version": "ignored"},
    "license": "LGPL-3",
}
