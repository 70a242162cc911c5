{
    'name': 'Website Custom',
    'version': '17.0' '.1.0',
    'summary': """Shop pages; "version": 99 in a docstring is not the version""",
    'depends': ['website_sale'],
    'license': 'LGPL-3',
}
