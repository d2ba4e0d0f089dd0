"""Events: photos grouped by when and where they were taken, shown as the Events/ tree."""
