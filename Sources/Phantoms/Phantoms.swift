// Phantoms: synthetic electrodes and forward models (in progress)
