"""The HTTP benchmark's first baseline: the course project's stack, Django REST Framework.

A `ListAPIView` with `PageNumberPagination` over unmanaged models of the same tables, served by
gunicorn with as many workers as `habitctl serve` has processes (one). Django lives in its own
virtualenv (created on first use), never in the project's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.common import REPO_ROOT

DEFAULT_DRF_VENV = REPO_ROOT / "benchmarks" / ".venv-drf"
DRF_PACKAGES = ["django>=5,<6", "djangorestframework>=3.15", "gunicorn>=22", "psycopg2-binary"]

DRF_MODELS = """
from django.db import models


class Owner(models.Model):
    username = models.CharField(max_length=32)
    timezone = models.CharField(max_length=64)

    class Meta:
        managed = False
        db_table = "users"


class Habit(models.Model):
    user = models.ForeignKey(Owner, on_delete=models.DO_NOTHING, db_column="user_id")
    action = models.CharField(max_length=255)
    place = models.CharField(max_length=255)
    time = models.TimeField()
    periodicity_days = models.IntegerField()
    duration_seconds = models.IntegerField()
    is_pleasant = models.BooleanField()
    reward = models.CharField(max_length=255, null=True)
    linked_habit = models.ForeignKey(
        "self", on_delete=models.DO_NOTHING, null=True, db_column="linked_habit_id"
    )
    is_public = models.BooleanField()

    class Meta:
        managed = False
        db_table = "habits"
"""

DRF_SITE = """
import os

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="benchmark-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF="drfsite",
    INSTALLED_APPS=[
        "django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "benchapp",
    ],
    MIDDLEWARE=[],
    DATABASES={"default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1", "PORT": os.environ["BENCH_PG_PORT"],
        "NAME": os.environ["BENCH_PG_DB"], "USER": os.environ["BENCH_PG_USER"],
        "PASSWORD": os.environ.get("BENCH_PG_PASSWORD", ""),
        "CONN_MAX_AGE": None,
    }},
    USE_TZ=True,
    REST_FRAMEWORK={
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
        "UNAUTHENTICATED_USER": None,
        "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
        "PAGE_SIZE": 20,
    },
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework import generics, serializers  # noqa: E402

from benchapp.models import Habit  # noqa: E402


class HabitSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="user.username")
    timezone = serializers.CharField(source="user.timezone")
    time = serializers.TimeField(format="%H:%M")

    class Meta:
        model = Habit
        fields = [
            "id", "owner", "action", "place", "time", "timezone", "periodicity_days",
            "duration_seconds", "is_pleasant", "reward", "linked_habit",
        ]


class PublicHabits(generics.ListAPIView):
    serializer_class = HabitSerializer
    queryset = Habit.objects.filter(is_public=True).select_related("user").order_by("id")


urlpatterns = [path("public/habits", PublicHabits.as_view())]
application = get_wsgi_application()
"""


def ensure_drf_venv(venv: Path) -> Path:
    """The DRF virtualenv's bin directory, created with pip on first use."""
    bin_dir = venv / "bin"
    if not (bin_dir / "gunicorn").exists():
        print(f"creating {venv} (django, djangorestframework, gunicorn)…", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(bin_dir / "python"), "-m", "pip", "install", "-q", *DRF_PACKAGES], check=True
        )
    return bin_dir


def write_drf_site(work: Path) -> Path:
    site = work / "drf"
    (site / "benchapp").mkdir(parents=True, exist_ok=True)
    (site / "benchapp" / "__init__.py").write_text("")
    (site / "benchapp" / "models.py").write_text(DRF_MODELS)
    (site / "drfsite.py").write_text(DRF_SITE)
    return site


def drf_command(bin_dir: Path, site: Path, port: int) -> list[str]:
    """gunicorn with one sync worker, as many processes as `habitctl serve` has."""
    return [
        str(bin_dir / "gunicorn"),
        *("--workers", "1", "--bind", f"127.0.0.1:{port}", "--chdir", str(site)),
        *("--timeout", "120", "--log-level", "warning", "drfsite:application"),
    ]
