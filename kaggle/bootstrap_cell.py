# Make recsys_lib importable. Already installed: nothing to do. Else a wheel attached as a
# Kaggle input (or in the Colab Drive folder): install it offline. Else, with internet and
# RECSYS_LIB_PIP_SPEC set (for example git+https://github.com/<you>/recsys_lib): install that.
# Else stop and say which dataset to attach.
import glob
import importlib
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("recsys_lib") is None:
    _roots = [os.environ.get("RECSYS_KAGGLE_INPUT", "/kaggle/input"),
              os.environ.get("RECSYS_COLAB_DIR", "/content/drive/MyDrive/recsys-lib")]
    _wheels = sorted(wheel for root in _roots
                     for wheel in glob.glob(f"{root}/**/recsys_lib-*.whl", recursive=True))
    _spec = os.environ.get("RECSYS_LIB_PIP_SPEC")
    if _wheels:
        _pip = ["--no-index", "--find-links", os.path.dirname(_wheels[-1]), "recsys-lib"]
    elif _spec:
        _pip = [_spec]
    else:
        raise ModuleNotFoundError(
            "recsys_lib is not installed and no recsys_lib wheel is attached. On Kaggle: "
            "Add Input -> Datasets -> 'KAGGLE_DATASET_ID' (built by `recsys kaggle build`, see "
            "kaggle/README.md). On Colab: put the wheels in MyDrive/recsys-lib or set "
            "RECSYS_LIB_PIP_SPEC.")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *_pip], check=True)
    importlib.invalidate_caches()
import recsys_lib

print(f"recsys_lib {recsys_lib.__version__} from {os.path.dirname(recsys_lib.__file__)}")
