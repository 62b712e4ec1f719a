from servicekit.migrate import run_env
from services.enrollment.models import Base

run_env(Base.metadata)
