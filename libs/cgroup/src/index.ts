export { cgroupVersion, findHierarchies, type Controller, type Hierarchies, type Version } from './hierarchy.ts';
export { CPU_PERIOD, cpuWeightOfShares, ioWeightOfBlkioWeight, limitWrites, v2Controllers, type CgroupDirs, type Limits, type ThrottleDevice } from './limits.ts';
export { RUNC_DEVICE_RULES, ruleText, v1DeviceWrites, type DeviceCgroupRule, type DeviceRule } from './devices.ts';
