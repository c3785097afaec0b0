"""The node setup scripts of setup/ against doubles of the commands they run."""
