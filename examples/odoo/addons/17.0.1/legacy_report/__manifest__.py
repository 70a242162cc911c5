{'name': 'Legacy Report', 'version': '17.0.1.0', 'depends': ['account'], 'license': 'LGPL-3'}
