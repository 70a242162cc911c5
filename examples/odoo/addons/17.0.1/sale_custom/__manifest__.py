# Sales customisations of the shop.
{
    "name": "Sale Custom",
    # 'version': '0.0.1' was the first draft
    "version": "17.0.1.4",
    "depends": ["sale_management"],
    "data": ["views/sale_order_views.xml"],
    "license": "LGPL-3",
}
