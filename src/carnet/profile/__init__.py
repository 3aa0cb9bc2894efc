"""The medical profile: health history, vaccinations, measurements, lifestyle (issue 7, ACC-7)."""
