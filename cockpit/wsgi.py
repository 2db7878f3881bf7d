import os

from django.core.wsgi import get_wsgi_application

from cockpit.gc_tuning import gc_tune

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cockpit.settings")
application = get_wsgi_application()
gc_tune()  # once the application is loaded: in each gunicorn worker
