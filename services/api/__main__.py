"""`python -m services.api`: same as `python -m services.api.app`."""
from services.api.app import main

if __name__ == "__main__":
    main()
