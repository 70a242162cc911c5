{
    'name': 'Stock Custom',
    'version': '17.0.2.0',
    'depends': ['stock'],
    'license': 'LGPL-3',
}
