import os

os.environ.setdefault("AFTERCARE_ALLOW_DEV_SECRET", "1")
os.environ.setdefault("AFTERCARE_VAR_DIR", os.path.join(os.path.dirname(__file__), "var", "test"))
