// shadownet: the appliance. Usage: shadownet [EAL arguments --] [options]
#include "shadownet/control/appliance.hpp"

int main(int argc, char** argv)
{
    return shadownet::control::run_shadownet(argc, argv);
}
